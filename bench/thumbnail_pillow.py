"""The Pillow side of `make bench`'s thumbnail comparison: what a FastAPI backend would run.

usage: thumbnail_pillow.py IMAGE REPEATS -> one JSON line: median and fastest time of
open + Image.thumbnail((200, 200)) + turned upright as its Exif orientation says
(ImageOps.exif_transpose, on the thumbnail) + save as PNG (CMYK converted to RGB first: PNG has
no CMYK), every run's time, the thumbnail's size, and the process's peak RSS.
"""

import io
import json
import sys
import time

from PIL import Image, ImageOps


def peak_rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    path, repeats = sys.argv[1], int(sys.argv[2])
    times = []
    size = (0, 0)
    for _ in range(repeats):
        start = time.perf_counter()
        with Image.open(path) as image:
            image.thumbnail((200, 200))
            upright = ImageOps.exif_transpose(image)
            if upright.mode == "CMYK":
                upright = upright.convert("RGB")
            out = io.BytesIO()
            upright.save(out, "PNG")
            size = upright.size
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(json.dumps({
        "median_ms": times[len(times) // 2],
        "min_ms": times[0],
        "peak_rss_kb": peak_rss_kb(),
        "width": size[0],
        "height": size[1],
        "times_ms": times,
    }))


if __name__ == "__main__":
    main()
