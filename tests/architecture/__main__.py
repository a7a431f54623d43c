"""``python -m tests.architecture``: the package graph and the layer verdict (exit 1 when broken)."""

import sys

from tests.architecture.layers import all_imports, report, violations

imports = all_imports()
print(report(imports))
sys.exit(1 if violations(imports) else 0)
