# Storage of the resources: sqlite3 from the standard library by default,
# PostgreSQL (psycopg2) when the database setting is a postgresql:// URL.
# Identifiers are quoted, values are always bound parameters.
import sqlite3
import threading

SQLITE_TYPES = {"string": "TEXT", "text": "TEXT", "email": "TEXT", "date": "TEXT",
                "integer": "INTEGER", "number": "REAL", "boolean": "INTEGER"}


def quote(identifier):
    return '"' + identifier.replace('"', '""') + '"'


class Store:
    """CRUD on one table per resource. Thread-safe through one lock."""

    placeholder = "?"

    def __init__(self, resources):
        self.resources = resources
        self.lock = threading.Lock()

    def _columns(self, resource):
        return [f.name for f in self.resources[resource]["fields"]]

    def _row(self, resource, row):
        if row is None:
            return None
        item = {"id": row[0]}
        for field, value in zip(self.resources[resource]["fields"], row[1:]):
            if value is not None and field.type == "boolean":
                value = bool(value)
            elif value is not None and field.type == "date":
                value = str(value)
            item[field.name] = value
        return item

    def _select(self, resource):
        cols = ", ".join([quote("id")] + [quote(c) for c in self._columns(resource)])
        return "SELECT %s FROM %s" % (cols, quote(resource))

    def list(self, resource, limit=100, offset=0):
        sql = self._select(resource) + " ORDER BY %s LIMIT %s OFFSET %s" % (quote("id"), self.placeholder, self.placeholder)
        return [self._row(resource, r) for r in self._query(sql, (limit, offset))]

    def get(self, resource, item_id):
        sql = self._select(resource) + " WHERE %s = %s" % (quote("id"), self.placeholder)
        rows = self._query(sql, (item_id,))
        return self._row(resource, rows[0]) if rows else None

    def count(self, resource):
        return self._query("SELECT COUNT(*) FROM %s" % quote(resource), ())[0][0]

    def create(self, resource, values):
        names = [c for c in self._columns(resource) if c in values]
        if names:
            sql = "INSERT INTO %s (%s) VALUES (%s)" % (
                quote(resource), ", ".join(quote(n) for n in names), ", ".join([self.placeholder] * len(names)))
        else:
            sql = "INSERT INTO %s DEFAULT VALUES" % quote(resource)
        new_id = self._insert(sql, tuple(values[n] for n in names))
        return self.get(resource, new_id)

    def update(self, resource, item_id, values):
        names = [c for c in self._columns(resource) if c in values]
        if names:
            sets = ", ".join("%s = %s" % (quote(n), self.placeholder) for n in names)
            sql = "UPDATE %s SET %s WHERE %s = %s" % (quote(resource), sets, quote("id"), self.placeholder)
            if self._execute(sql, tuple(values[n] for n in names) + (item_id,)) == 0:
                return None
        return self.get(resource, item_id)

    def delete(self, resource, item_id):
        sql = "DELETE FROM %s WHERE %s = %s" % (quote(resource), quote("id"), self.placeholder)
        return self._execute(sql, (item_id,)) > 0

    def clear(self):
        """Empties every table (tests against a shared PostgreSQL database)."""
        for resource in self.resources:
            self._execute("DELETE FROM %s" % quote(resource), ())


class SqliteStore(Store):
    def __init__(self, path, resources):
        super().__init__(resources)
        self.db = sqlite3.connect(path, check_same_thread=False)
        with self.lock, self.db:
            for resource, spec in resources.items():
                cols = [quote("id") + " INTEGER PRIMARY KEY AUTOINCREMENT"]
                for f in spec["fields"]:
                    cols.append("%s %s%s" % (quote(f.name), SQLITE_TYPES[f.type], " NOT NULL" if f.required else ""))
                self.db.execute("CREATE TABLE IF NOT EXISTS %s (%s)" % (quote(resource), ", ".join(cols)))

    def _query(self, sql, params):
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def _insert(self, sql, params):
        with self.lock, self.db:
            return self.db.execute(sql, params).lastrowid

    def _execute(self, sql, params):
        with self.lock, self.db:
            return self.db.execute(sql, params).rowcount

    def close(self):
        self.db.close(){{#features.postgresql}}


class PostgresStore(Store):
    """The tables of db/schema.sql (created here too when missing)."""

    placeholder = "%s"
    TYPES = {"string": "text", "text": "text", "email": "text", "date": "date",
             "integer": "bigint", "number": "double precision", "boolean": "boolean"}

    def __init__(self, url, resources):
        super().__init__(resources)
        try:
            import psycopg2
        except ImportError as exc:
            raise RuntimeError("DATABASE_URL is a PostgreSQL URL: install psycopg2 (python3-psycopg2)") from exc
        self.db = psycopg2.connect(url)
        with self.lock, self.db, self.db.cursor() as cur:
            for resource, spec in resources.items():
                cols = [quote("id") + " bigserial PRIMARY KEY"]
                for f in spec["fields"]:
                    cols.append("%s %s%s" % (quote(f.name), self.TYPES[f.type], " NOT NULL" if f.required else ""))
                cur.execute("CREATE TABLE IF NOT EXISTS %s (%s)" % (quote(resource), ", ".join(cols)))

    def _query(self, sql, params):
        with self.lock, self.db, self.db.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def _insert(self, sql, params):
        with self.lock, self.db, self.db.cursor() as cur:
            cur.execute(sql + " RETURNING " + quote("id"), params)
            return cur.fetchone()[0]

    def _execute(self, sql, params):
        with self.lock, self.db, self.db.cursor() as cur:
            cur.execute(sql, params)
            return cur.rowcount

    def close(self):
        self.db.close(){{/features.postgresql}}


def open_store(database, resources):
    """A store for `database`: a sqlite3 file path, or a postgresql:// URL."""
    if database.startswith(("postgres://", "postgresql://")):
{{#features.postgresql}}        return PostgresStore(database, resources)
{{/features.postgresql}}{{^features.postgresql}}        raise RuntimeError("this API was generated without PostgreSQL support")
{{/features.postgresql}}    return SqliteStore(database, resources)
