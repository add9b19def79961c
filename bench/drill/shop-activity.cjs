// Simulated shop traffic for the drill benchmark: order status updates spread over the whole
// orders table at a steady rate, until killed. Usage: node shop-activity.cjs DB RATE_PER_S
const Database = require('better-sqlite3');
const db = new Database(process.argv[2], { timeout: 10000 });
db.pragma('journal_mode = WAL');
const rate = Number(process.argv[3] || 20);
const maxOrder = db.prepare('SELECT max(id) FROM orders').pluck().get();
const upd = db.prepare('UPDATE orders SET status = ? WHERE id = ?');
let n = 0;
setInterval(() => {
  db.transaction(() => {
    for (let i = 0; i < Math.max(1, Math.round(rate / 10)); i++) {
      n++;
      upd.run(['paid', 'shipped', 'refunded'][n % 3], 1 + ((n * 104729) % maxOrder));
    }
  })();
}, 100);
process.on('SIGTERM', () => {
  db.close();
  process.exit(0);
});
