// The client of the generated REST API. `fetch` is injectable so the same
// module runs in the browser and under node:test.

export class ApiError extends Error {
  constructor(status, message, fields) {
    super(message);
    this.status = status;
    this.fields = fields || {};
  }
}

export function createApi({ baseUrl, fetch: fetchImpl = globalThis.fetch, token = null } = {}) {
  if (typeof baseUrl !== 'string') throw new TypeError('baseUrl must be a string');
  const base = baseUrl.replace(/\/+$/, '');
  let bearer = token;

  async function request(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const init = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetchImpl(base + path, init);
    const text = response.status === 204 ? '' : await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        throw new ApiError(response.status, `the API answered ${response.status} with something that is not JSON`);
      }
    }
    if (!response.ok) {
      throw new ApiError(response.status, (data && data.error) || `HTTP ${response.status}`, data && data.fields);
    }
    return data;
  }

  const segment = (resource) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(resource)) throw new TypeError(`bad resource name ${resource}`);
    return `/api/${resource}`;
  };
  const idPath = (resource, id) => {
    if (!Number.isSafeInteger(id) || id < 0) throw new TypeError(`bad id ${id}`);
    return `${segment(resource)}/${id}`;
  };

  return {
    get token() { return bearer; },
    logout() { bearer = null; },
    async login(username, password) {
      const data = await request('POST', '/auth/token', { username, password });
      bearer = data.access_token;
      return data;
    },
    health: () => request('GET', '/health'),
    list: (resource, { limit = 100, offset = 0 } = {}) =>
      request('GET', `${segment(resource)}?limit=${Number(limit)}&offset=${Number(offset)}`),
    get: (resource, id) => request('GET', idPath(resource, id)),
    create: (resource, item) => request('POST', segment(resource), item),
    update: (resource, id, item) => request('PUT', idPath(resource, id), item),
    patch: (resource, id, changes) => request('PATCH', idPath(resource, id), changes),
    remove: (resource, id) => request('DELETE', idPath(resource, id)),
    adminSummary: () => request('GET', '/api/admin/summary'),
  };
}
