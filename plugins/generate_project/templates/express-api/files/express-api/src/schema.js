'use strict';
// The resources of the API, their fields and the validation of request bodies
// (the same rules and messages as the Flask API).

const RESOURCES = {
{{#resources}}
  {{name}}: {
    title: '{{title}}',
    singular: '{{singular}}',
    fields: [
{{#fields}}
      { name: '{{name}}', type: '{{type}}', required: {{#required}}true{{/required}}{{^required}}false{{/required}} },
{{/fields}}
    ],
  },
{{/resources}}
};

const MAX_STRING = 255;
const MAX_TEXT = 65535;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function validDate(value) {
  if (!DATE.test(value)) return false;
  const parsed = new Date(value + 'T00:00:00Z');
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === value;
}

// The error message for `value` in `field`, or null when it is valid.
function checkValue(field, value) {
  switch (field.type) {
    case 'string':
    case 'text':
    case 'email':
    case 'date':
      if (typeof value !== 'string') return 'must be a string';
      if (field.type === 'string' && value.length > MAX_STRING) return `must be at most ${MAX_STRING} characters`;
      if (field.type === 'text' && value.length > MAX_TEXT) return `must be at most ${MAX_TEXT} characters`;
      if (field.type === 'email' && (value.length > 254 || !EMAIL.test(value))) return 'must be an email address';
      if (field.type === 'date' && !validDate(value)) return 'must be a date (YYYY-MM-DD)';
      return null;
    case 'integer':
      if (!Number.isInteger(value)) return 'must be an integer';
      if (!Number.isSafeInteger(value)) return 'is out of range';
      return null;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? null : 'must be a number';
    case 'boolean':
      return typeof value === 'boolean' ? null : 'must be true or false';
    default:
      return 'has an unknown type';
  }
}

// { values, errors } for a JSON body; partial for PATCH.
function validate(resource, body, partial = false) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { values: {}, errors: { _body: 'must be a JSON object' } };
  }
  const fields = RESOURCES[resource].fields;
  const known = new Set(fields.map((f) => f.name));
  const values = {};
  const errors = {};
  for (const key of Object.keys(body)) {
    if (key !== 'id' && !known.has(key)) errors[key] = `is not a field of ${resource}`;
  }
  for (const field of fields) {
    if (!Object.prototype.hasOwnProperty.call(body, field.name)) {
      if (field.required && !partial) errors[field.name] = 'is required';
      continue;
    }
    const value = body[field.name];
    if (value === null) {
      if (field.required) errors[field.name] = 'is required';
      else values[field.name] = null;
      continue;
    }
    const problem = checkValue(field, value);
    if (problem) errors[field.name] = problem;
    else values[field.name] = value;
  }
  return { values, errors };
}

// A value of the wrong type for a field of type `type` (used by the tests).
function invalidValue(type) {
  if (['string', 'text', 'email', 'date'].includes(type)) return 12345;
  if (type === 'boolean') return 'yes';
  return 'not a number';
}

module.exports = { RESOURCES, validate, checkValue, invalidValue };
