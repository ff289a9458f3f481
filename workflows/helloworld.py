"""Hello World payload: print the job's parameters as JSON and keep them in helloworld.json.

Runs in the job's working directory, where the executor wrote parameters.json.
"""

import json
import sys
from pathlib import Path

parameters = json.loads(Path("parameters.json").read_text())
text = json.dumps(parameters, indent=2, sort_keys=True)
Path("helloworld.json").write_text(text + "\n")
sys.stdout.write(text + "\n")
