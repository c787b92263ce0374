"""Makes the README's small screenshots (docs/screenshots/NAME.png) from the browser tests'
full-size ones (target/screenshots/NAME-1280.png): the top of each page, 640 px wide, in 256
colours. Run it after the browser tests (`.ci/run`, or one test file), with Pillow installed
(`pip install pillow`); CI does not run it. Names as arguments make only those."""

import sys
from pathlib import Path

from PIL import Image

PAGES = {"notes": "notes", "dashboard": "dashboard", "logs": "logs", "progress": "progress",
         "tls": "tls-https", "auth": "auth", "react": "react"}
if sys.argv[1:]:
    PAGES = {name: shot for name, shot in PAGES.items() if name in sys.argv[1:]}
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
OUT.mkdir(parents=True, exist_ok=True)
for name, shot in PAGES.items():
    image = Image.open(ROOT / "target" / "screenshots" / f"{shot}-1280.png").convert("RGB")
    top = image.crop((0, 0, 1280, min(image.height, 820)))
    small = top.resize((640, top.height // 2), Image.LANCZOS)
    small.quantize(256, dither=Image.NONE).save(OUT / f"{name}.png", optimize=True)
    print(f"docs/screenshots/{name}.png: {(OUT / f'{name}.png').stat().st_size // 1024} KiB")
