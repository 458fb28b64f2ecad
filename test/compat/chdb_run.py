"""Runs SQL statements on a current ClickHouse engine (chDB) for the compatibility test.

stdin: a JSON list of statements; stdout: a JSON list with, per statement, its JSONEachRow output
(or {"error": "..."}). One chDB session, so databases and tables persist across statements.
"""
import json
import sys
import tempfile

from chdb import session as chs

statements = json.load(sys.stdin)
out = []
with tempfile.TemporaryDirectory() as path:
    sess = chs.Session(path)
    for sql in statements:
        try:
            res = sess.query(sql, "JSONEachRow")
            text = res.bytes().decode("utf-8") if hasattr(res, "bytes") else str(res)
            out.append({"rows": [json.loads(line) for line in text.splitlines() if line.strip()]})
        except Exception as exc:  # report, keep going: the test names the failing statement
            out.append({"error": str(exc).splitlines()[0][:500]})
    sess.close()
json.dump(out, sys.stdout)
