#!/usr/bin/env python3
"""Generates src/Kiln/Kernels/ConvWinograd.g.cs: straight-line Vector512 code for the input (Bᵀ d B) and output (Aᵀ m A)
transforms of Winograd's F(4x4, 3x3) (tiles of 6) and F(4x4, 5x5) (tiles of 8), and the output-gradient transform
(G' e G'ᵀ) of the weight gradient's F(3x3, 4x4) and F(5x5, 4x4), with the matrices' constants folded in.

The matrices come from the Toom-Cook construction that ConvWinograd.Transform also uses (points 0, ±1, ±2, ±1/2 and
infinity), computed here in exact fractions. Both transforms are applied as two 1-d passes (rows, then columns). Points
come in pairs ±p, which the 1-d transforms share: two rows of Bᵀ for ±p differ only in the sign of their odd
coefficients, so both come from one even and one odd partial sum; likewise the columns of Aᵀ for ±p meet the inputs only
through their sum and difference.

Usage: python3 bench/tools/gen-conv-winograd.py src/Kiln/Kernels/ConvWinograd.g.cs
"""
import sys
from fractions import Fraction as Fr

M = 4  # outputs per tile side
POINTS = {3: [0, 1, -1, 2, -2], 5: [0, 1, -1, 2, -2, Fr(1, 2), Fr(-1, 2)]}


def poly(points, skip):
    c = [Fr(1)]
    for l, p in enumerate(points):
        if l == skip:
            continue
        nxt = [Fr(0)] * (len(c) + 1)
        for k, v in enumerate(c):
            nxt[k + 1] += v
            nxt[k] -= p * v
        c = nxt
    return c


def matrices(r):
    pts = [Fr(p) for p in POINTS[r]]
    a = M + r - 1
    n = a - 1
    bt = [[Fr(0)] * a for _ in range(a)]
    at = [[Fr(0)] * a for _ in range(M)]
    for j in range(n):
        c = poly(pts, j)
        for k, v in enumerate(c):
            bt[j][k] = v
        for i in range(M):
            at[i][j] = pts[j] ** i
    for k, v in enumerate(poly(pts, -1)):
        bt[n][k] = v
    at[M - 1][n] = Fr(1)
    return bt, at


def grad_matrix(r):
    """G' [a x 4] of F(r, 4), the weight gradient's transform of a 4x4 tile of the output gradient: p_j^c / f_j, infinity [0 0 0 1]."""
    pts = [Fr(p) for p in POINTS[r]]
    a = M + r - 1
    n = a - 1
    g = [[Fr(0)] * M for _ in range(a)]
    for j in range(n):
        f = Fr(1)
        for l in range(n):
            if l != j:
                f *= pts[j] - pts[l]
        for c in range(M):
            g[j][c] = pts[j] ** c / f
    g[n][M - 1] = Fr(1)
    return g


def lit(v):
    f = float(v)
    s = repr(f)
    return s + "f"


def term_sum(terms):
    """C# expression for sum(coef * var) over terms [(coef, var)], coef != 0, using FMA for general coefficients."""
    ones = [(c, x) for c, x in terms if c in (1, -1)]
    gen = [(c, x) for c, x in terms if c not in (1, -1)]
    expr = None
    for c, x in ones:
        if expr is None:
            expr = x if c == 1 else f"-{x}"
        else:
            expr = f"{expr} {'+' if c == 1 else '-'} {x}"
    for c, x in gen:
        if expr is None:
            expr = f"{x} * {lit(c)}"
        else:
            expr = f"Vector512.FusedMultiplyAdd({x}, Vector512.Create({lit(c)}), {expr})"
    return expr if expr is not None else "Vector512<float>.Zero"


def rows_1d(t, xs, ys, lines, ind):
    """Emit ys[i] = sum_c t[i][c] * xs[c] with the ±p row pairing: rows i, i2 with t[i2][c] = s * (-1)^c * t[i][c]."""
    m, n = len(t), len(t[0])
    done = set()
    for i in range(m):
        if i in done:
            continue
        partner, sign = None, None
        for i2 in range(i + 1, m):
            if i2 in done:
                continue
            for s in (1, -1):
                if all(t[i2][c] == s * (-1) ** c * t[i][c] for c in range(n)) and any(t[i][c] != 0 and c % 2 == 1 for c in range(n)) \
                        and any(t[i][c] != 0 and c % 2 == 0 for c in range(n)):
                    partner, sign = i2, s
                    break
            if partner is not None:
                break
        if partner is None:
            lines.append(f"{ind}var {ys[i]} = {term_sum([(t[i][c], xs[c]) for c in range(n) if t[i][c] != 0])};")
            done.add(i)
            continue
        e = term_sum([(t[i][c], xs[c]) for c in range(0, n, 2) if t[i][c] != 0])
        o = term_sum([(t[i][c], xs[c]) for c in range(1, n, 2) if t[i][c] != 0])
        lines.append(f"{ind}var e{i} = {e};")
        lines.append(f"{ind}var o{i} = {o};")
        lines.append(f"{ind}var {ys[i]} = e{i} + o{i};")
        lines.append(f"{ind}var {ys[partner]} = {'e%d - o%d' % (i, i) if sign == 1 else 'o%d - e%d' % (i, i)};")
        done.update((i, partner))


def cols_1d(t, xs, ys, lines, ind, extra=None):
    """Emit ys[i] = sum_j t[i][j] * xs[j] (+ extra) with the ±p column pairing: columns j, j2 with t[i][j2] = (-1)^i t[i][j]."""
    m, n = len(t), len(t[0])
    pairs, single = [], []
    used = set()
    for j in range(n):
        if j in used:
            continue
        for j2 in range(j + 1, n):
            if j2 not in used and all(t[i][j2] == (-1) ** i * t[i][j] for i in range(m)) and any(t[i][j] != 0 for i in range(1, m)):
                pairs.append((j, j2))
                used.update((j, j2))
                break
        else:
            single.append(j)
            used.add(j)
    for j, j2 in pairs:
        lines.append(f"{ind}var s{j} = {xs[j]} + {xs[j2]};")
        lines.append(f"{ind}var d{j} = {xs[j]} - {xs[j2]};")
    for i in range(m):
        terms = [(t[i][j], xs[j]) for j in single if t[i][j] != 0]
        terms += [(t[i][j], f"{'s' if i % 2 == 0 else 'd'}{j}") for j, _ in pairs if t[i][j] != 0]
        if extra is not None:
            terms = [(Fr(1), extra)] + terms
        lines.append(f"{ind}var {ys[i]} = {term_sum(terms)};")


def gen_input(r):
    bt, _ = matrices(r)
    a = len(bt)
    L = []
    L.append(f"    /// <summary>Bᵀ d B for one {a}x{a} tile of 16 channels: d at the tile's top-left (rs floats between rows, cs between")
    L.append(f"    /// columns); writes position p of the result at v + p·vs; t holds {a * a} vectors of scratch.</summary>")
    L.append(f"    [MethodImpl(MethodImplOptions.AggressiveOptimization)]")
    L.append(f"    static void Input{a}(float* d, nint rs, nint cs, float* v, nint vs, Vector512<float>* t)")
    L.append("    {")
    L.append(f"        for (int r = 0; r < {a}; r++, d += rs)")
    L.append("        {")
    xs = [f"x{c}" for c in range(a)]
    for c in range(a):
        L.append(f"            var x{c} = Vector512.Load(d{'' if c == 0 else ' + %d * cs' % c});")
    ys = [f"y{c}" for c in range(a)]
    rows_1d(bt, xs, ys, L, "            ")
    for c in range(a):
        L.append(f"            t[r * {a} + {c}] = y{c};")
    L.append("        }")
    L.append(f"        for (int c = 0; c < {a}; c++)")
    L.append("        {")
    for rr in range(a):
        L.append(f"            var x{rr} = t[{rr * a} + c];")
    rows_1d(bt, xs, ys, L, "            ")
    for rr in range(a):
        L.append(f"            y{rr}.Store(v + ({rr * a} + c) * vs);")
    L.append("        }")
    L.append("    }")
    return L


def gen_output(r):
    _, at = matrices(r)
    a = len(at[0])
    L = []
    L.append(f"    /// <summary>Aᵀ m A + bias for one tile of 16 channels: position p of m at m + p·ms; writes the 4x4 outputs at o (rs floats")
    L.append(f"    /// between rows, cs between columns); t holds {a * M} vectors of scratch.</summary>")
    L.append(f"    [MethodImpl(MethodImplOptions.AggressiveOptimization)]")
    L.append(f"    static void Output{a}(float* m, nint ms, Vector512<float> bias, float* o, nint rs, nint cs, Vector512<float>* t)")
    L.append("    {")
    L.append(f"        for (int r = 0; r < {a}; r++)")
    L.append("        {")
    xs = [f"x{j}" for j in range(a)]
    for j in range(a):
        L.append(f"            var x{j} = Vector512.Load(m + (r * {a} + {j}) * ms);")
    ys = [f"y{i}" for i in range(M)]
    cols_1d(at, xs, ys, L, "            ")
    for i in range(M):
        L.append(f"            t[r * {M} + {i}] = y{i};")
    L.append("        }")
    L.append(f"        for (int j = 0; j < {M}; j++)")
    L.append("        {")
    for rr in range(a):
        L.append(f"            var x{rr} = t[{rr * M} + j];")
    cols_1d(at, xs, ys, L, "            ", extra="bias")
    for i in range(M):
        L.append(f"            y{i}.Store(o + {i} * rs + j * cs);")
    L.append("        }")
    L.append("    }")
    return L


def gen_grad(r):
    g = grad_matrix(r)
    a = len(g)
    L = []
    L.append(f"    /// <summary>G' e G'ᵀ for one 4x4 tile of 16 output-gradient channels (the weight gradient's F({r}, 4)): e at the tile's")
    L.append(f"    /// top-left (rs floats between rows, cs between columns); writes position p at v + p·vs; t holds {a * M} vectors of scratch.</summary>")
    L.append(f"    [MethodImpl(MethodImplOptions.AggressiveOptimization)]")
    L.append(f"    static void Grad{a}(float* e, nint rs, nint cs, float* v, nint vs, Vector512<float>* t)")
    L.append("    {")
    L.append(f"        for (int r = 0; r < {M}; r++, e += rs)")
    L.append("        {")
    xs = [f"x{c}" for c in range(M)]
    for c in range(M):
        L.append(f"            var x{c} = Vector512.Load(e{'' if c == 0 else ' + %d * cs' % c});")
    ys = [f"y{c}" for c in range(a)]
    rows_1d(g, xs, ys, L, "            ")
    for c in range(a):
        L.append(f"            t[r * {a} + {c}] = y{c};")
    L.append("        }")
    L.append(f"        for (int c = 0; c < {a}; c++)")
    L.append("        {")
    for rr in range(M):
        L.append(f"            var x{rr} = t[{rr * a} + c];")
    rows_1d(g, xs, ys, L, "            ")
    for rr in range(a):
        L.append(f"            y{rr}.Store(v + ({rr * a} + c) * vs);")
    L.append("        }")
    L.append("    }")
    return L


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "src/Kiln/Kernels/ConvWinograd.g.cs"
    L = ["// <auto-generated> by bench/tools/gen-conv-winograd.py: do not edit by hand; edit the generator and re-run it. </auto-generated>",
         "// Winograd F(4x4, 3x3) and F(4x4, 5x5) tile transforms for ConvWinograd.cs (which has the driver, the weight transform",
         "// and the matrices in double). Usage: python3 bench/tools/gen-conv-winograd.py src/Kiln/Kernels/ConvWinograd.g.cs",
         "using System.Runtime.CompilerServices;",
         "using System.Runtime.Intrinsics;",
         "",
         "namespace Kiln.Kernels;",
         "",
         "static unsafe partial class ConvWinograd",
         "{"]
    for r in (3, 5):
        L += gen_input(r)
        L.append("")
        L += gen_output(r)
        L.append("")
        L += gen_grad(r)
        L.append("")
    L[-1] = "}"
    with open(out, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
