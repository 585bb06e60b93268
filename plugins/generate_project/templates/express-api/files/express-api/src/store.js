'use strict';
// An in-memory store: one ordered map per resource. Items are copied in and
// out so a caller never holds a reference into the store.

class MemoryStore {
  constructor(resources) {
    this.tables = new Map(resources.map((name) => [name, new Map()]));
    this.nextId = new Map(resources.map((name) => [name, 1]));
  }

  table(resource) {
    const table = this.tables.get(resource);
    if (!table) throw new Error(`unknown resource ${resource}`);
    return table;
  }

  list(resource, limit = 100, offset = 0) {
    return [...this.table(resource).values()].slice(offset, offset + limit).map((item) => ({ ...item }));
  }

  get(resource, id) {
    const item = this.table(resource).get(id);
    return item ? { ...item } : null;
  }

  count(resource) {
    return this.table(resource).size;
  }

  create(resource, values) {
    const id = this.nextId.get(resource);
    this.nextId.set(resource, id + 1);
    const item = { id, ...values };
    this.table(resource).set(id, item);
    return { ...item };
  }

  update(resource, id, values) {
    const table = this.table(resource);
    const item = table.get(id);
    if (!item) return null;
    const updated = { ...item, ...values, id };
    table.set(id, updated);
    return { ...updated };
  }

  delete(resource, id) {
    return this.table(resource).delete(id);
  }
}

module.exports = { MemoryStore };
