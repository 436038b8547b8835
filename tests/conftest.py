"""Make ``ansible_collections.faultline.chaos`` importable from the working tree."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
_link = os.path.join(COLLECTIONS, "ansible_collections", "faultline", "chaos")
if not os.path.islink(_link) and not os.path.exists(_link):
    os.makedirs(os.path.dirname(_link), exist_ok=True)
    os.symlink(os.path.relpath(ROOT, os.path.dirname(_link)), _link)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
