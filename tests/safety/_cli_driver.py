"""Child process of the safety tests: runs ``nasrec-lab`` once per case given as JSON on stdin
and prints one JSON list of {rc, stdout, stderr} (one process, so torch is imported once)."""

import contextlib
import io
import json
import sys
import traceback

from nasrec_lab.cli import main

results = []
for argv in json.loads(sys.stdin.read()):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse
            rc = exc.code
        except BaseException:  # noqa: BLE001 - reported to the test as a traceback
            rc = "traceback"
            traceback.print_exc(file=err)
    results.append({"argv": argv, "rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(results))
