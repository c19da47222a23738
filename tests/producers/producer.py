#!/usr/bin/python3
"""A website's producer in Python (sqlite3), as the README shows it.

producer.py DB insert PREFIX N   queue N signups, one transaction each; print their ids
producer.py DB status ID...      print each signup's state, reason, sent_at, message_id
producer.py DB forbidden         try to insert state='sent'; print the database's refusal
"""
import json
import sqlite3
import sys


def connect(path):
    # A busy timeout: the daemon and other producers write the same file.
    con = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    return con


def insert(con, email, name, role, level, tasks, skills, years):
    # tasks and skills: a list, or None (NULL) for none.
    cur = con.execute(
        "INSERT INTO signups (email, name, role, level, tasks, skills, years)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (email, name, role, level,
         None if tasks is None else json.dumps(tasks),
         None if skills is None else json.dumps(skills), years))
    return cur.lastrowid


def insert_minimal(con, email, role, level):
    # tasks and skills left out altogether.
    return con.execute("INSERT INTO signups (email, role, level) VALUES (?, ?, ?)",
                       (email, role, level)).lastrowid


def status(con, signup_id):
    return con.execute("SELECT state, reason, sent_at, message_id FROM signup_status WHERE id = ?",
                       (signup_id,)).fetchone()


def main(argv):
    con = connect(argv[1])
    if argv[2] == "insert":
        prefix, n = argv[3], int(argv[4])
        for i in range(n):
            email = f"{prefix}-{i}@example.org"
            if i % 3 == 0:
                sid = insert(con, email, f"Py {i}", "backend-developer", "mid", None, None, None)
            elif i % 3 == 1:
                sid = insert_minimal(con, email, "backend-developer", "mid")
            else:
                sid = insert(con, email, f"Py {i}", "backend-developer", "senior",
                             ["write-production-code", {"id": "review-code", "share": 40}],
                             ["sql"], 7)
            print(sid, flush=True)
    elif argv[2] == "status":
        for sid in argv[3:]:
            state, reason, sent_at, message_id = status(con, int(sid))
            print(f"{sid}\t{state}\t{reason or ''}\t{sent_at or ''}\t{message_id or ''}")
    elif argv[2] == "forbidden":
        try:
            con.execute("INSERT INTO signups (email, role, level, state)"
                        " VALUES ('forbidden@example.org', 'backend-developer', 'mid', 'sent')")
        except sqlite3.IntegrityError as e:
            print(e)
            return 0
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
