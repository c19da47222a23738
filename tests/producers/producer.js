// A website's producer in Node (better-sqlite3), as the README shows it.
//
// node producer.js DB insert PREFIX N   queue N signups, one transaction each; print their ids
// node producer.js DB status ID...      print each signup's state, reason, sent_at, message_id
// node producer.js DB forbidden         try to insert state='sent'; print the database's refusal
'use strict';
const Database = require('better-sqlite3');

// A busy timeout: the daemon and other producers write the same file.
function connect(path) {
  return new Database(path, { timeout: 5000 });
}

// tasks and skills: an array, or null (NULL) for none.
function insertSignup(db, { email, name = null, role, level, tasks = null, skills = null, years = null }) {
  const info = db.prepare(
    'INSERT INTO signups (email, name, role, level, tasks, skills, years) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run(email, name, role, level, tasks === null ? null : JSON.stringify(tasks),
      skills === null ? null : JSON.stringify(skills), years);
  return Number(info.lastInsertRowid);
}

// tasks and skills left out altogether.
function insertMinimal(db, email, role, level) {
  const info = db.prepare('INSERT INTO signups (email, role, level) VALUES (?, ?, ?)').run(email, role, level);
  return Number(info.lastInsertRowid);
}

function signupStatus(db, id) {
  return db.prepare('SELECT state, reason, sent_at, message_id FROM signup_status WHERE id = ?').get(id);
}

const [, , path, command, ...args] = process.argv;
const db = connect(path);
if (command === 'insert') {
  const [prefix, n] = [args[0], Number(args[1])];
  for (let i = 0; i < n; i++) {
    const email = `${prefix}-${i}@example.org`;
    let id;
    if (i % 3 === 0) {
      id = insertSignup(db, { email, name: `Node ${i}`, role: 'backend-developer', level: 'mid' });
    } else if (i % 3 === 1) {
      id = insertMinimal(db, email, 'backend-developer', 'mid');
    } else {
      id = insertSignup(db, {
        email, name: `Node ${i}`, role: 'backend-developer', level: 'senior',
        tasks: ['write-production-code', { id: 'review-code', share: 40 }], skills: ['sql'], years: 7,
      });
    }
    process.stdout.write(`${id}\n`);
  }
} else if (command === 'status') {
  for (const id of args) {
    const s = signupStatus(db, Number(id));
    process.stdout.write(`${id}\t${s.state}\t${s.reason ?? ''}\t${s.sent_at ?? ''}\t${s.message_id ?? ''}\n`);
  }
} else if (command === 'forbidden') {
  try {
    db.exec("INSERT INTO signups (email, role, level, state) VALUES ('forbidden@example.org', 'backend-developer', 'mid', 'sent')");
    process.exitCode = 1;
  } catch (e) {
    process.stdout.write(`${e.message}\n`);
  }
}
