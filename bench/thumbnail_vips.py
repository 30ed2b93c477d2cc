"""The libvips side of `make bench`'s thumbnail comparison: what most image services run (sharp
and imgproxy are libvips), through pyvips with the libvips of `pyvips-binary`.

usage: thumbnail_vips.py IMAGE REPEATS -> one JSON line, as thumbnail_pillow.py prints it:
Image.thumbnail(IMAGE, 200, height=200, size="down") (shrink-on-load, Exif auto-rotation, CMYK to
sRGB) + PNG to memory. libvips' operation cache is off, so every run decodes the file again.
Threads: VIPS_CONCURRENCY from the environment (the bench sets 1, as a Lambda of 1024 MB has
about 0.6 vCPU; unset, libvips uses one per core).
"""

import json
import sys
import time

import pyvips


def peak_rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    path, repeats = sys.argv[1], int(sys.argv[2])
    pyvips.cache_set_max(0)
    times = []
    size = (0, 0)
    for _ in range(repeats):
        start = time.perf_counter()
        image = pyvips.Image.thumbnail(path, 200, height=200, size="down")
        image.write_to_buffer(".png")
        size = (image.width, image.height)
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
