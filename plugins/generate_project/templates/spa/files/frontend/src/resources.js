// The resources of the API and the client-side logic on their items: form
// values to typed JSON, the same validation rules as the API, safe display.

export const RESOURCES = {
{{#resources}}
  {{name}}: {
    title: '{{title}}',
    singular: '{{singular}}',
    fields: [
{{#fields}}
      { name: '{{name}}', title: '{{title}}', type: '{{type}}', required: {{#required}}true{{/required}}{{^required}}false{{/required}} },
{{/fields}}
    ],
  },
{{/resources}}
};

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

// The HTML input type for a field.
export function inputType(field) {
  return { integer: 'number', number: 'number', boolean: 'checkbox', date: 'date', email: 'email' }[field.type] || 'text';
}

// A typed item from form values (strings, or booleans for checkboxes).
// Empty inputs become null. Returns { item, errors }.
export function formToItem(resource, values) {
  const item = {};
  const errors = {};
  for (const field of RESOURCES[resource].fields) {
    const raw = values[field.name];
    if (field.type === 'boolean') {
      item[field.name] = raw === true || raw === 'true' || raw === 'on';
      continue;
    }
    if (raw === undefined || raw === null || String(raw).trim() === '') {
      if (field.required) errors[field.name] = 'is required';
      else item[field.name] = null;
      continue;
    }
    const text = String(raw).trim();
    if (field.type === 'integer' || field.type === 'number') {
      const value = Number(text);
      if (!Number.isFinite(value) || (field.type === 'integer' && !Number.isSafeInteger(value))) {
        errors[field.name] = field.type === 'integer' ? 'must be an integer' : 'must be a number';
      } else {
        item[field.name] = value;
      }
      continue;
    }
    if (field.type === 'email' && !EMAIL.test(text)) errors[field.name] = 'must be an email address';
    else if (field.type === 'date' && !DATE.test(text)) errors[field.name] = 'must be a date (YYYY-MM-DD)';
    else item[field.name] = field.type === 'text' ? String(raw) : text;
  }
  return { item, errors };
}

// The text shown for a value in a table cell.
export function displayValue(field, value) {
  if (value === null || value === undefined) return '';
  if (field.type === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}

// Escapes text for HTML (the app uses textContent; this is for exports and titles).
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
