#!/usr/bin/env python3
"""Generates src/Kiln/Kernels/ConvWinograd.g.cs: straight-line Vector512 code for the input (Bᵀ d B) and output (Aᵀ m A)
transforms of Winograd's F(4x4, 3x3) (tiles of 6) and F(4x4, 5x5) (tiles of 8), and the output-gradient transform
(G' e G'ᵀ) of the weight gradient's F(3x3, 4x4) and F(5x5, 4x4), with the matrices' constants folded in; each for
Vector512 (16 channels per vector) and, suffixed Narrow, Vector256 (8 channels; AVX2 hosts).

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


V = "Vector512"  # the vector type being emitted (main() sets it per width)
SUFFIX = ""
LANES = {"Vector512": 16, "Vector256": 8}


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
            expr = f"{V}.FusedMultiplyAdd({x}, {V}.Create({lit(c)}), {expr})"
    return expr if expr is not None else f"{V}<float>.Zero"


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


def gen_two_pass(name, t, doc):
    """T x Tᵀ for a tile of n x n vectors (t is [a x n], rows paired by rows_1d): rows of the input, then columns of the
    intermediate; the input tile at x (rs floats between rows, cs between columns), position p of the a x a result at
    v + p·vs."""
    a, n = len(t), len(t[0])
    L = [f"    /// <summary>{doc} (rs floats between rows, cs between",
         f"    /// columns); writes position p of the result at v + p·vs; t holds {a * n} vectors of scratch.</summary>",
         "    [MethodImpl(MethodImplOptions.AggressiveOptimization)]",
         f"    static void {name}{a}{SUFFIX}(float* x, nint rs, nint cs, float* v, nint vs, {V}<float>* t)",
         "    {",
         f"        for (int r = 0; r < {n}; r++, x += rs)",
         "        {"]
    xs = [f"x{c}" for c in range(n)]
    for c in range(n):
        L.append(f"            var x{c} = {V}.Load(x{'' if c == 0 else ' + %d * cs' % c});")
    ys = [f"y{c}" for c in range(a)]
    rows_1d(t, xs, ys, L, "            ")
    for c in range(a):
        L.append(f"            t[r * {a} + {c}] = y{c};")
    L += ["        }", f"        for (int c = 0; c < {a}; c++)", "        {"]
    for rr in range(n):
        L.append(f"            var x{rr} = t[{rr * a} + c];")
    rows_1d(t, xs, ys, L, "            ")
    for rr in range(a):
        L.append(f"            y{rr}.Store(v + ({rr * a} + c) * vs);")
    L += ["        }", "    }"]
    return L


def gen_input(r):
    bt, _ = matrices(r)
    a = len(bt)
    return gen_two_pass("Input", bt, f"Bᵀ d B for one {a}x{a} input tile d of {LANES[V]} channels: its top-left at x")


def gen_output(r):
    _, at = matrices(r)
    a = len(at[0])
    L = []
    L.append(f"    /// <summary>Aᵀ m A + bias for one tile of {LANES[V]} channels: position p of m at m + p·ms; writes the 4x4 outputs at o (rs floats")
    L.append(f"    /// between rows, cs between columns); t holds {a * M} vectors of scratch.</summary>")
    L.append(f"    [MethodImpl(MethodImplOptions.AggressiveOptimization)]")
    L.append(f"    static void Output{a}{SUFFIX}(float* m, nint ms, {V}<float> bias, float* o, nint rs, nint cs, {V}<float>* t)")
    L.append("    {")
    L.append(f"        for (int r = 0; r < {a}; r++)")
    L.append("        {")
    xs = [f"x{j}" for j in range(a)]
    for j in range(a):
        L.append(f"            var x{j} = {V}.Load(m + (r * {a} + {j}) * ms);")
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
    return gen_two_pass("Grad", g, f"G' e G'ᵀ for one 4x4 output-gradient tile e of {LANES[V]} channels (the weight gradient's F({r}, 4)):\n    /// its top-left at x")


# The per-image drivers, the same for both widths: @V@ is the vector type, @L@ its lanes, @S@ the name suffix.
DRIVERS = r'''    /// <summary>v [pos][t0 + tile][cin] = (Bᵀ d B)[pos] for every tile d of xc, @L@ channels at a time; v holds
    /// <paramref name="tiles"/> tiles per position (those of several images).</summary>
    static void InputTransform@S@(Transform tr, float* xc, int wx, int cin, int th, int tw, float* v, int t0, int tiles)
    {
        int a = tr.A;
        @V@<float>* tmp = stackalloc @V@<float>[a * a];
        nint rs = (nint)wx * cin, vs = (nint)tiles * cin;
        for (int ty = 0; ty < th; ty++)
            for (int tx = 0; tx < tw; tx++)
            {
                float* vt = v + (nint)(t0 + ty * tw + tx) * cin;
                for (int cb = 0; cb < cin; cb += @L@)
                {
                    float* d = xc + ((nint)ty * Mt * wx + tx * Mt) * cin + cb;
                    if (a == 8) Input8@S@(d, rs, cin, vt + cb, vs, tmp);
                    else Input6@S@(d, rs, cin, vt + cb, vs, tmp);
                }
            }
    }

    /// <summary>m [pos][tile][cout] = v [pos][tile][cin] · u [pos][cin][cout] for every pos: eight tiles by @L@ output channels at a time.</summary>
    static void Products@S@(float* v, float* u, float* m, int positions, int tiles, int cin, int cout)
    {
        for (int p = 0; p < positions; p++)
        {
            float* vp = v + (nint)p * tiles * cin, up = u + (nint)p * cin * cout, mp = m + (nint)p * tiles * cout;
            for (int cb = 0; cb < cout; cb += @L@)
            {
                int t = 0;
                for (; t + 8 <= tiles; t += 8)
                {
                    float* v0 = vp + (nint)t * cin;
                    @V@<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                    for (int ci = 0; ci < cin; ci++)
                    {
                        var w = @V@.Load(up + (nint)ci * cout + cb);
                        a0 = @V@.FusedMultiplyAdd(@V@.Create(v0[ci]), w, a0);
                        a1 = @V@.FusedMultiplyAdd(@V@.Create(v0[cin + ci]), w, a1);
                        a2 = @V@.FusedMultiplyAdd(@V@.Create(v0[2 * cin + ci]), w, a2);
                        a3 = @V@.FusedMultiplyAdd(@V@.Create(v0[3 * cin + ci]), w, a3);
                        a4 = @V@.FusedMultiplyAdd(@V@.Create(v0[4 * cin + ci]), w, a4);
                        a5 = @V@.FusedMultiplyAdd(@V@.Create(v0[5 * cin + ci]), w, a5);
                        a6 = @V@.FusedMultiplyAdd(@V@.Create(v0[6 * cin + ci]), w, a6);
                        a7 = @V@.FusedMultiplyAdd(@V@.Create(v0[7 * cin + ci]), w, a7);
                    }
                    float* o = mp + (nint)t * cout + cb;
                    a0.Store(o); a1.Store(o + cout); a2.Store(o + 2 * cout); a3.Store(o + 3 * cout);
                    a4.Store(o + 4 * cout); a5.Store(o + 5 * cout); a6.Store(o + 6 * cout); a7.Store(o + 7 * cout);
                }
                for (; t < tiles; t++)
                {
                    float* v0 = vp + (nint)t * cin;
                    var acc = @V@<float>.Zero;
                    for (int ci = 0; ci < cin; ci++)
                        acc = @V@.FusedMultiplyAdd(@V@.Create(v0[ci]), @V@.Load(up + (nint)ci * cout + cb), acc);
                    acc.Store(mp + (nint)t * cout + cb);
                }
            }
        }
    }

    /// <summary>oc [th·4][owt][cout] = Aᵀ m A (+ bias) for the image's tiles t0.. of m (which holds
    /// <paramref name="tiles"/> per position), @L@ output channels at a time.</summary>
    static void OutputTransform@S@(Transform tr, float* m, float* bias, int cout, int th, int tw, float* oc, int owt, int t0, int tiles)
    {
        int a = tr.A;
        @V@<float>* tmp = stackalloc @V@<float>[a * Mt];
        nint ms = (nint)tiles * cout, rs = (nint)owt * cout;
        for (int ty = 0; ty < th; ty++)
            for (int tx = 0; tx < tw; tx++)
            {
                float* mt = m + (nint)(t0 + ty * tw + tx) * cout;
                float* o = oc + ((nint)ty * Mt * owt + tx * Mt) * cout;
                for (int cb = 0; cb < cout; cb += @L@)
                {
                    var b = bias == null ? @V@<float>.Zero : @V@.Load(bias + cb);
                    if (a == 8) Output8@S@(mt + cb, ms, b, o + cb, rs, cout, tmp);
                    else Output6@S@(mt + cb, ms, b, o + cb, rs, cout, tmp);
                }
            }
    }

    /// <summary>e [pos][t0 + tile][cs] = (GD g GDᵀ)[pos] for every 4x4 tile g of ec, @L@ channels at a time; e holds
    /// <paramref name="tiles"/> tiles per position.</summary>
    static void GradTransform@S@(int a, float* ec, int cs, int th, int tw, int owt, float* e, int t0, int tiles)
    {
        @V@<float>* tmp = stackalloc @V@<float>[a * Mt];
        nint rs = (nint)owt * cs, es = (nint)tiles * cs;
        for (int ty = 0; ty < th; ty++)
            for (int tx = 0; tx < tw; tx++)
            {
                float* et = e + (nint)(t0 + ty * tw + tx) * cs;
                float* g = ec + ((nint)ty * Mt * owt + tx * Mt) * cs;
                for (int cb = 0; cb < cs; cb += @L@)
                {
                    if (a == 8) Grad8@S@(g + cb, rs, cs, et + cb, es, tmp);
                    else Grad6@S@(g + cb, rs, cs, et + cb, es, tmp);
                }
            }
    }

    /// <summary>acc [pos][cs][cb] += e [pos][tile][cs]ᵀ · v [pos][tile][cb] for every pos: eight output channels by @L@ input channels at a time.</summary>
    static void Accumulate@S@(float* e, float* v, float* acc, int positions, int tiles, int cs, int cb)
    {
        for (int p = 0; p < positions; p++)
        {
            float* ep = e + (nint)p * tiles * cs, vp = v + (nint)p * tiles * cb, ap = acc + (nint)p * cs * cb;
            for (int ci = 0; ci < cb; ci += @L@)
                for (int co = 0; co < cs; co += 8)
                {
                    float* o = ap + (nint)co * cb + ci;
                    @V@<float> a0 = @V@.Load(o), a1 = @V@.Load(o + cb), a2 = @V@.Load(o + 2 * cb), a3 = @V@.Load(o + 3 * cb);
                    @V@<float> a4 = @V@.Load(o + 4 * cb), a5 = @V@.Load(o + 5 * cb), a6 = @V@.Load(o + 6 * cb), a7 = @V@.Load(o + 7 * cb);
                    float* et = ep + co;
                    float* vt = vp + ci;
                    for (int t = 0; t < tiles; t++, et += cs, vt += cb)
                    {
                        var x = @V@.Load(vt);
                        a0 = @V@.FusedMultiplyAdd(@V@.Create(et[0]), x, a0);
                        a1 = @V@.FusedMultiplyAdd(@V@.Create(et[1]), x, a1);
                        a2 = @V@.FusedMultiplyAdd(@V@.Create(et[2]), x, a2);
                        a3 = @V@.FusedMultiplyAdd(@V@.Create(et[3]), x, a3);
                        a4 = @V@.FusedMultiplyAdd(@V@.Create(et[4]), x, a4);
                        a5 = @V@.FusedMultiplyAdd(@V@.Create(et[5]), x, a5);
                        a6 = @V@.FusedMultiplyAdd(@V@.Create(et[6]), x, a6);
                        a7 = @V@.FusedMultiplyAdd(@V@.Create(et[7]), x, a7);
                    }
                    a0.Store(o); a1.Store(o + cb); a2.Store(o + 2 * cb); a3.Store(o + 3 * cb);
                    a4.Store(o + 4 * cb); a5.Store(o + 5 * cb); a6.Store(o + 6 * cb); a7.Store(o + 7 * cb);
                }
        }
    }
'''


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
    global V, SUFFIX
    for V, SUFFIX in (("Vector512", ""), ("Vector256", "Narrow")):
        for r in (3, 5):
            L += gen_input(r)
            L.append("")
            L += gen_output(r)
            L.append("")
            L += gen_grad(r)
            L.append("")
        L += DRIVERS.replace("@V@", V).replace("@L@", str(LANES[V])).replace("@S@", SUFFIX).rstrip("\n").split("\n")
        L.append("")
    L[-1] = "}"
    with open(out, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
