#!/usr/bin/env python3
"""Varied signups for `make bench`, drawn from the shipped roles.

Every role in config/roles/ in turn, every level, a few of the role's tasks
(some with shares of time, some bare ids, some none) and skills, names with
and without non-ASCII letters, as config/demo-signups.yaml shows a website
sends them. Deterministic for a given seed, so runs compare.

    signups.py COUNT [PREFIX] > signups.json     (for `reportd enqueue --file`)
"""
import glob
import json
import os
import random
import sys

import yaml

ROLES_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "config", "roles")
NAMES = ["Ada Lovelace", "Grace Hopper", "Margaret Hamilton, Ph.D. — Zoë", "Tran, Kim",
         "Dr. Rita Okafor", "山田 由紀", "Linus", "Barbara Liskov", "Édouard Lucas", None]


def load_roles(roles_dir=ROLES_DIR):
    roles = []
    for path in sorted(glob.glob(os.path.join(roles_dir, "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        roles.append((os.path.basename(path)[:-5],
                      [lv["id"] for lv in doc["levels"]],
                      [t["id"] for t in doc["tasks"]],
                      [s["id"] for s in doc["skills"]]))
    return roles


def make(count, prefix="bench", seed=7, roles=None):
    """COUNT signups as dicts with JSON-ready fields (tasks/skills as lists)."""
    roles = roles or load_roles()
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        role, levels, tasks, skills = roles[i % len(roles)]
        s = {"email": f"{prefix}{i}@example.org", "role": role,
             "level": levels[(i // len(roles)) % len(levels)]}
        name = NAMES[i % len(NAMES)]
        if name:
            s["name"] = name
        picked = rnd.sample(tasks, rnd.randint(2, min(5, len(tasks))))
        if i % 3 == 0:
            s["tasks"] = picked
        elif i % 3 == 1:
            shares = [rnd.randint(5, 100 // len(picked)) for _ in picked]
            s["tasks"] = [{"id": t, "share": sh} for t, sh in zip(picked, shares)]
        s["skills"] = rnd.sample(skills, rnd.randint(1, min(4, len(skills))))
        if i % 2 == 0:
            s["years"] = rnd.randint(0, 30)
        out.append(s)
    return out


if __name__ == "__main__":
    n = int(sys.argv[1])
    prefix = sys.argv[2] if len(sys.argv) > 2 else "bench"
    json.dump(make(n, prefix), sys.stdout, ensure_ascii=False)
