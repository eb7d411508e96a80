// docker-compose: run once by the mongo image (mounted into /docker-entrypoint-initdb.d/) when its
// data volume is empty, as the root user. Two users on the app database, both from .env:
// the writers (init, streaming, batch) read and write; the dashboard only reads.
const database = process.env.SKYRISK_MONGO_DATABASE || "skyrisk";
const app = db.getSiblingDB(database);

app.createUser({
  user: process.env.MONGO_APP_USER,
  pwd: process.env.MONGO_APP_PASSWORD,
  roles: [{ role: "readWrite", db: database }],
});

app.createUser({
  user: process.env.MONGO_READER_USER,
  pwd: process.env.MONGO_READER_PASSWORD,
  roles: [{ role: "read", db: database }],
});
