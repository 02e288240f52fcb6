import subprocess
import sys


def test_fail_stop_exits_at_once_with_ex_software():
    code = (
        "from ipcoord.platform.failstop import fail_stop\n"
        "try:\n"
        "    fail_stop(RuntimeError('broker refused'))\n"
        "finally:\n"
        "    print('finally blocks do not run')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 70
    assert "finally blocks do not run" not in result.stdout  # no graceful path: nothing commits
    assert "broker refused" in result.stderr
