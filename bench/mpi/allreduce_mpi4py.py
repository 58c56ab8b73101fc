"""Allreduce through mpi4py, the loop of allreduce.c: `comm.Allreduce` (blocking) and
`comm.Iallreduce(...).Wait()`, f32 sum in place, plain (array.array) and page-aligned
(mmap) buffers, back to back and barrier-separated; the cold figure first.

Run: mpirun -n 2 python3 allreduce_mpi4py.py <blocking|nonblocking> [sizes...]
Output: COLD mpi4py-<mode> <us>  and  RESULT mpi4py-<mode> <plain|page> <b2b|barrier> <bytes> <us>
"""
import array
import mmap
import sys
import time

from mpi4py import MPI

comm = MPI.COMM_WORLD
mode = sys.argv[1] if len(sys.argv) > 1 else "blocking"
sizes = [int(s) for s in sys.argv[2:]]
blocking = mode == "blocking"
IN_PLACE, FLOAT, SUM = MPI.IN_PLACE, MPI.FLOAT, MPI.SUM


def one(buf):
    if blocking:
        comm.Allreduce(IN_PLACE, [buf, FLOAT], op=SUM)
    else:
        comm.Iallreduce(IN_PLACE, [buf, FLOAT], op=SUM).Wait()


def worst(v):
    return comm.allreduce(v, op=MPI.MAX)


def iters_for(b):
    return 2000 if b <= 1024 else 300 if b <= 65536 else 60 if b <= 1 << 20 else 10


x = array.array("f", [0.0])
comm.Barrier()
t0 = time.perf_counter()
for _ in range(1000):
    one(x)
cold = worst((time.perf_counter() - t0) * 1e6 / 1000)
if comm.rank == 0:
    print(f"COLD mpi4py-{mode} {cold:.3f}", flush=True)

mx = max(sizes + [4])
plain = array.array("f", bytes(mx))
page = memoryview(mmap.mmap(-1, mx)).cast("f")
for name, whole in (("plain", plain), ("page", page)):
    for loop in ("b2b", "barrier"):
        for b in sizes:
            buf = memoryview(whole)[: b // 4] if name == "plain" else whole[: b // 4]
            iters = iters_for(b)
            per = iters // 5
            for _ in range(iters // 10 + 1):
                one(buf)
            batch = []
            comm.Barrier()
            for _ in range(5):
                s = 0.0
                t0 = time.perf_counter()
                for _ in range(per):
                    if loop == "barrier":
                        comm.Barrier()
                        t = time.perf_counter()
                        one(buf)
                        s += time.perf_counter() - t
                    else:
                        one(buf)
                total = s if loop == "barrier" else time.perf_counter() - t0
                batch.append(total * 1e6 / per)
            batch.sort()
            w = worst(batch[2])
            if comm.rank == 0:
                print(f"RESULT mpi4py-{mode} {name} {loop} {b} {w:.3f}", flush=True)
