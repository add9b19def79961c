// A busy shop for tests: commits small write transactions to the database as fast as it can
// until stdin closes. Prints "ready" once it has started writing.
const Database = require('better-sqlite3');
const db = new Database(process.argv[2], { timeout: 10000 });
db.pragma('journal_mode = WAL');
const ins = db.prepare('INSERT INTO payments (order_id, raw) VALUES (?, ?)');
const upd = db.prepare('UPDATE orders SET status = ?, total_cents = total_cents + 1 WHERE id = ?');
const count = db.prepare('SELECT count(*) FROM orders').pluck();
const n = count.get();
let i = 0;
let stop = false;
process.stdin.on('end', () => {
  stop = true;
});
process.stdin.resume();
function tick() {
  if (stop) {
    db.close();
    process.exit(0);
  }
  db.transaction(() => {
    for (let k = 0; k < 20; k++) {
      i++;
      upd.run('s' + (i % 7), 1 + ((i * 7919) % n));
      ins.run(1 + (i % n), JSON.stringify({ id: 'evt_busy_' + i, pad: 'x'.repeat(200) }));
    }
  })();
  if (i === 20) process.stdout.write('ready\n');
  setImmediate(tick);
}
tick();
