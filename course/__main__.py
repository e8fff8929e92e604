import gc
import sys

from course.cli import main

code = main()
# Whatever is still alive now lives until the process ends. The interpreter's last collections would walk all of it
# and free nothing that the exit does not (a twentieth of a second after `export`): leave it out of them.
gc.freeze()
sys.exit(code)
