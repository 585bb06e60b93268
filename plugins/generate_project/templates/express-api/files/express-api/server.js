'use strict';
// Starts the Express API of {{project.slug}}: PORT (default {{var.express_port}}), HOST (default 127.0.0.1).
const { createApp } = require('./src/app');

const port = Number(process.env.PORT || {{var.express_port}});
const host = process.env.HOST || '127.0.0.1';
const server = createApp().listen(port, host, () => {
  console.log(`listening on http://${host}:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
