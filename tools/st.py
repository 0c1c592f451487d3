"""st.py - the tools' safetensors reader and writer, which now lives in the
Python module (python/recur/safetensors.py); this name is kept so the tools
and anyone's scripts that `import st` keep working. No librecur is needed."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from recur.safetensors import FormatError, parse, read, serialize, write  # noqa: E402,F401
