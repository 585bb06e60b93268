// The page: a list and a form per resource{{#features.admin}}, an admin summary{{/features.admin}}.
// Hash routes: #/<resource>{{#features.admin}}, #/admin{{/features.admin}}. Text always goes through textContent.
import { createApi, ApiError } from './api.js';
import { apiBase, PROJECT_NAME, AUTH, ADMIN } from './config.js';
import { RESOURCES, formToItem, displayValue, inputType } from './resources.js';

const api = createApi({ baseUrl: apiBase(window), token: sessionStorage.getItem('token') });
const view = document.getElementById('view');
const status = document.getElementById('status');

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'onclick' || key === 'onsubmit') node.addEventListener(key.slice(2), value);
    else if (typeof value === 'boolean') node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function say(message) {
  status.textContent = message;
}

function failed(err) {
  if (err instanceof ApiError && err.status === 401 && AUTH) {
    sessionStorage.removeItem('token');
    api.logout();
    document.getElementById('login').hidden = false;
  }
  const details = err instanceof ApiError ? Object.entries(err.fields).map(([k, v]) => `${k} ${v}`).join(', ') : '';
  say(details ? `${err.message}: ${details}` : err.message);
}

function nav() {
  const links = Object.entries(RESOURCES).map(([name, r]) => el('a', { href: `#/${name}` }, r.title));
  if (ADMIN) links.push(el('a', { href: '#/admin' }, 'Admin'));
  document.getElementById('nav').replaceChildren(...links);
}

async function showResource(name) {
  const resource = RESOURCES[name];
  const items = await api.list(name);
  const header = el('tr', {}, el('th', {}, 'id'), ...resource.fields.map((f) => el('th', {}, f.title)), el('th'));
  const rows = items.map((item) => el('tr', {},
    el('td', {}, item.id),
    ...resource.fields.map((f) => el('td', {}, displayValue(f, item[f.name]))),
    el('td', {}, el('button', { type: 'button', onclick: () => remove(name, item.id) }, 'Delete'))));
  const inputs = resource.fields.map((f) => el('label', {}, f.title + ' ',
    el('input', { name: f.name, type: inputType(f), required: f.required && f.type !== 'boolean', step: f.type === 'number' ? 'any' : '1' })));
  const form = el('form', { class: 'card', onsubmit: (event) => submit(event, name) },
    el('h3', {}, `New ${resource.singular}`), ...inputs, el('button', { type: 'submit' }, 'Create'));
  view.replaceChildren(el('h2', {}, resource.title), el('table', {}, el('thead', {}, header), el('tbody', {}, ...rows)), form);
}

async function submit(event, name) {
  event.preventDefault();
  const values = {};
  for (const input of event.target.querySelectorAll('input')) values[input.name] = input.type === 'checkbox' ? input.checked : input.value;
  const { item, errors } = formToItem(name, values);
  if (Object.keys(errors).length) return say(Object.entries(errors).map(([k, v]) => `${k} ${v}`).join(', '));
  try {
    await api.create(name, item);
    say(`${RESOURCES[name].singular} created`);
    await showResource(name);
  } catch (err) {
    failed(err);
  }
  return undefined;
}

async function remove(name, id) {
  try {
    await api.remove(name, id);
    await showResource(name);
  } catch (err) {
    failed(err);
  }
}

async function showAdmin() {
  const summary = await api.adminSummary();
  const rows = Object.entries(summary).map(([name, count]) => el('tr', {}, el('td', {}, RESOURCES[name] ? RESOURCES[name].title : name), el('td', {}, count)));
  view.replaceChildren(el('h2', {}, 'Admin'), el('table', {}, el('tbody', {}, ...rows)));
}

async function route() {
  const name = location.hash.replace(/^#\//, '') || Object.keys(RESOURCES)[0];
  say('');
  try {
    if (ADMIN && name === 'admin') await showAdmin();
    else if (name && Object.prototype.hasOwnProperty.call(RESOURCES, name)) await showResource(name);
    else view.replaceChildren(el('p', {}, 'Nothing here.'));
  } catch (err) {
    failed(err);
  }
}

if (AUTH) {
  const login = document.getElementById('login');
  login.hidden = Boolean(api.token);
  login.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const data = await api.login(login.username.value, login.password.value);
      sessionStorage.setItem('token', data.access_token);
      login.hidden = true;
      await route();
    } catch (err) {
      failed(err);
    }
  });
}

document.getElementById('project-name').textContent = PROJECT_NAME;
document.title = PROJECT_NAME;
nav();
window.addEventListener('hashchange', route);
route();
