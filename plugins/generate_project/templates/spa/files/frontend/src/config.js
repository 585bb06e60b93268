// Settings of the app. The API address can be overridden before the app
// loads with <script>window.API_BASE = 'https://api.example.org'</script>.
export const PROJECT_NAME = {{project.name_js}};
export const DEFAULT_API_BASE = '{{#stacks.flask}}http://localhost:{{var.flask_port}}{{/stacks.flask}}{{^stacks.flask}}{{#stacks.express}}http://localhost:{{var.express_port}}{{/stacks.express}}{{/stacks.flask}}';
export const AUTH = {{#features.auth}}true{{/features.auth}}{{^features.auth}}false{{/features.auth}};
export const ADMIN = {{#features.admin}}true{{/features.admin}}{{^features.admin}}false{{/features.admin}};

export function apiBase(globalObject = globalThis) {
  const configured = globalObject && typeof globalObject.API_BASE === 'string' ? globalObject.API_BASE : DEFAULT_API_BASE;
  return configured.replace(/\/+$/, '');
}
