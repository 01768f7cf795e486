"""A kernel that calls grid_barrier three times (test_triton_split.py imports it once the
interpreter is switched on): its own arrival opens the first, the second never opens, the
third comes after a give-up. out = the poll budgets the three returned."""

import triton
import triton.language as tl

from grukit.ops._triton_lang import grid_barrier


@triton.jit
def three_barriers(cnt, err, out, limit):
    left = grid_barrier(cnt, err, 1, limit)
    tl.store(out, left)
    left = grid_barrier(cnt + 1, err, 5, left)
    tl.store(out + 1, left)
    left = grid_barrier(cnt + 1, err, 6, left)
    tl.store(out + 2, left)
