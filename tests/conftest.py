import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))     # test helpers such as postgres.py

# Tiny models gain nothing from intra-op threads, and on a loaded 2-core machine spinning
# threads made a small MLP step ~28x slower: tests run single-threaded, subprocesses too.
torch.set_num_threads(1)
