/*
 * kern_body.h - the pointwise kernels, written once over a small vector
 * vocabulary and included by kern_avx512.c (16 lanes) and kern_portable.c
 * (1 lane). The includer defines:
 *   vf                          the vector type
 *   VW                          lanes
 *   KB(name)                    the function name in this build
 *   KB_FN                       attributes for every function here
 *   v_load(p, n), v_store(p, v, n)   n <= VW valid lanes (the rest untouched / zero)
 *   v_set1, v_add, v_sub, v_mul, v_div, v_min, v_max, v_fma(a, b, c) = a*b+c rounded once,
 *   v_abs, v_copysign(mag, sign), v_lt_select(a, b, x, y) = a < b ? x : y,
 *   v_pos_select(h, x) = h > 0 ? x : 0, v_ldexp(p, n) = p * 2^n (n integral).
 * Every operation rounds once, in the same order in both builds, so the
 * results are bit for bit the same.
 */

/* ---------------------------------------------------------------- activations */

// exp(x), Cephes' expf: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-7
// polynomial, times 2^n. Inputs are clamped to [-87.3, 88.3] (results stay
// normal); the error is within 2 ulp over that range.
KB_FN static inline vf v_exp(vf x)
{
    // The constant first: min/max return their second operand for NaN, which must propagate.
    x = v_min(v_set1(88.3f), v_max(v_set1(-87.3f), x));
    const vf magic = v_set1(12582912.0f); // 1.5 * 2^23: adding it rounds to an integer
    vf n = v_sub(v_add(v_mul(x, v_set1(1.44269504088896341f)), magic), magic);
    vf r = v_fma(n, v_set1(-0.693359375f), x);
    r = v_fma(n, v_set1(2.12194440e-4f), r);
    vf p = v_set1(1.9875691500e-4f);
    p = v_fma(p, r, v_set1(1.3981999507e-3f));
    p = v_fma(p, r, v_set1(8.3334519073e-3f));
    p = v_fma(p, r, v_set1(4.1665795894e-2f));
    p = v_fma(p, r, v_set1(1.6666665459e-1f));
    p = v_fma(p, r, v_set1(5.0000001201e-1f));
    p = v_fma(p, v_mul(r, r), r);
    p = v_add(p, v_set1(1.0f));
    return v_ldexp(p, n);
}

KB_FN static inline vf v_sigmoid(vf x)
{
    return v_div(v_set1(1.0f), v_add(v_set1(1.0f), v_exp(v_sub(v_set1(0.0f), x))));
}

// tanh: an odd polynomial below |x| = 0.625 (Cephes' tanhf), else
// 1 - 2 / (exp(2|x|) + 1) with the sign of x.
KB_FN static inline vf v_tanh(vf x)
{
    vf a = v_abs(x);
    vf s = v_mul(x, x);
    vf p = v_set1(-5.70498872745e-3f);
    p = v_fma(p, s, v_set1(2.06390887954e-2f));
    p = v_fma(p, s, v_set1(-5.37397155531e-2f));
    p = v_fma(p, s, v_set1(1.33314422036e-1f));
    p = v_fma(p, s, v_set1(-3.33332819422e-1f));
    vf small = v_fma(v_mul(p, s), x, x);
    vf e = v_exp(v_add(a, a));
    vf big = v_sub(v_set1(1.0f), v_div(v_set1(2.0f), v_add(e, v_set1(1.0f))));
    return v_lt_select(a, v_set1(0.625f), small, v_copysign(big, x));
}

KB_FN static void KB(act_exp)(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i += VW) {
        int w = n - i < VW ? n - i : VW;
        v_store(y + i, v_exp(v_load(x + i, w)), w);
    }
}

KB_FN static void KB(act_sigmoid)(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i += VW) {
        int w = n - i < VW ? n - i : VW;
        v_store(y + i, v_sigmoid(v_load(x + i, w)), w);
    }
}

KB_FN static void KB(act_tanh)(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i += VW) {
        int w = n - i < VW ? n - i : VW;
        v_store(y + i, v_tanh(v_load(x + i, w)), w);
    }
}

KB_FN static void KB(add)(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i += VW) {
        int w = n - i < VW ? n - i : VW;
        v_store(y + i, v_add(v_load(y + i, w), v_load(x + i, w)), w);
    }
}

KB_FN static void KB(sum)(float *y, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i += VW) {
        int w = n - i < VW ? n - i : VW;
        v_store(y + i, v_add(v_load(a + i, w), v_load(b + i, w)), w);
    }
}

/* ---------------------------------------------------------------- optimizer */

/* Adam's update for i < n (optim.c has the formula and the bias corrections
 * that give step and c2s):
 *   m = b1 m + (1-b1) g;   v = b2 v + (1-b2) g g;   w -= step m / (sqrt(v) / c2s + eps)
 * Every lane does the scalar loop's operations in the same order, and sqrt
 * and division are correctly rounded in both builds, so each element gets
 * the bits optim.c's plain loop (optim_step_ref) gives it. Returns 1 when
 * every updated weight is finite (|w| < Inf is false for Inf and NaN): the
 * trainer's divergence check, for free while the weights are in registers. */
KB_FN static int KB(adam)(float *w, float *m, float *v, const float *g, long n, float b1, float b2,
                           float eps, float step, float c2s)
{
    const vf vb1 = v_set1(b1), vb1c = v_set1(1.0f - b1), vb2 = v_set1(b2), vb2c = v_set1(1.0f - b2);
    const vf veps = v_set1(eps), vstep = v_set1(step), vc2s = v_set1(c2s);
    const vf zero = v_set1(0.0f), one = v_set1(1.0f), inf = v_set1(INFINITY);
    vf bad = zero;
    for (long i = 0; i < n; i += VW) {
        int k = n - i < VW ? (int)(n - i) : VW;
        vf gi = v_load(g + i, k);
        vf mi = v_add(v_mul(vb1, v_load(m + i, k)), v_mul(vb1c, gi));
        vf vi = v_add(v_mul(vb2, v_load(v + i, k)), v_mul(v_mul(vb2c, gi), gi));
        vf d = v_add(v_div(v_sqrt(vi), vc2s), veps);
        v_store(m + i, mi, k);
        v_store(v + i, vi, k);
        vf wi = v_sub(v_load(w + i, k), v_div(v_mul(vstep, mi), d));
        v_store(w + i, wi, k);
        bad = v_max(bad, v_lt_select(v_abs(wi), inf, zero, one));
    }
    float lanes[VW];
    v_store(lanes, bad, VW);
    for (int l = 0; l < VW; l++)
        if (lanes[l] != 0.0f) return 0;
    return 1;
}

/* ---------------------------------------------------------------- cells */

// Vanilla RNN: h = tanh(px + ph) (or relu). Backward from h alone.
KB_FN static void KB(rnn_fwd)(int B, int H, int u0, int u1, int relu, const float *px,
                              const float *ph, const float *h_prev, const float *c_prev, float *h,
                              float *c, float *cache)
{
    (void)h_prev, (void)c_prev, (void)c, (void)cache;
    for (int b = 0; b < B; b++)
        for (int u = u0; u < u1; u += VW) {
            int w = u1 - u < VW ? u1 - u : VW;
            size_t i = (size_t)b * H + u;
            vf a = v_add(v_load(px + i, w), v_load(ph + i, w));
            v_store(h + i, relu ? v_pos_select(a, a) : v_tanh(a), w);
        }
}

KB_FN static void KB(rnn_bwd)(int B, int H, int u0, int u1, int relu, const float *dh, float *dc,
                              const float *h_prev, const float *c_prev, const float *h,
                              const float *c, const float *cache, float *dpx, float *dph,
                              float *dh_prev)
{
    (void)dc, (void)h_prev, (void)c_prev, (void)c, (void)cache;
    for (int b = 0; b < B; b++)
        for (int u = u0; u < u1; u += VW) {
            int w = u1 - u < VW ? u1 - u : VW;
            size_t i = (size_t)b * H + u;
            vf hv = v_load(h + i, w), d = v_load(dh + i, w);
            d = relu ? v_pos_select(hv, d) : v_mul(d, v_sub(v_set1(1.0f), v_mul(hv, hv)));
            v_store(dpx + i, d, w);
            if (dph != dpx) v_store(dph + i, d, w);
            v_store(dh_prev + i, v_set1(0.0f), w);
        }
}

// LSTM, gates i f g o; cache per unit: i, f, g, o (tanh(c) is recomputed).
KB_FN static void KB(lstm_fwd)(int B, int H, int u0, int u1, int relu, const float *px,
                               const float *ph, const float *h_prev, const float *c_prev, float *h,
                               float *c, float *cache)
{
    (void)relu, (void)h_prev;
    const size_t G = 4 * (size_t)H;
    for (int b = 0; b < B; b++) {
        const float *x = px + b * G, *r = ph + b * G;
        float *k = cache + (size_t)b * 4 * H;
        for (int u = u0; u < u1; u += VW) {
            int w = u1 - u < VW ? u1 - u : VW;
            size_t n = (size_t)b * H + u;
            vf i = v_sigmoid(v_add(v_load(x + u, w), v_load(r + u, w)));
            vf f = v_sigmoid(v_add(v_load(x + H + u, w), v_load(r + H + u, w)));
            vf g = v_tanh(v_add(v_load(x + 2 * H + u, w), v_load(r + 2 * H + u, w)));
            vf o = v_sigmoid(v_add(v_load(x + 3 * H + u, w), v_load(r + 3 * H + u, w)));
            vf ct = v_add(v_mul(f, v_load(c_prev + n, w)), v_mul(i, g));
            vf tc = v_tanh(ct);
            v_store(c + n, ct, w);
            v_store(h + n, v_mul(o, tc), w);
            v_store(k + u, i, w);
            v_store(k + H + u, f, w);
            v_store(k + 2 * H + u, g, w);
            v_store(k + 3 * H + u, o, w);
        }
    }
}

KB_FN static void KB(lstm_bwd)(int B, int H, int u0, int u1, int relu, const float *dh, float *dc,
                               const float *h_prev, const float *c_prev, const float *h,
                               const float *c, const float *cache, float *dpx, float *dph,
                               float *dh_prev)
{
    (void)relu, (void)h_prev, (void)h;
    const size_t G = 4 * (size_t)H;
    const vf one = v_set1(1.0f);
    for (int b = 0; b < B; b++) {
        const float *k = cache + (size_t)b * 4 * H;
        float *dx = dpx + b * G, *dr = dph + b * G;
        for (int u = u0; u < u1; u += VW) {
            int w = u1 - u < VW ? u1 - u : VW;
            size_t n = (size_t)b * H + u;
            vf i = v_load(k + u, w), f = v_load(k + H + u, w), g = v_load(k + 2 * H + u, w);
            vf o = v_load(k + 3 * H + u, w), tc = v_tanh(v_load(c + n, w));
            vf dhv = v_load(dh + n, w);
            // (1) h = o * tanh(c)
            vf d_o = v_mul(dhv, tc);
            vf dct = v_add(v_load(dc + n, w), v_mul(v_mul(dhv, o), v_sub(one, v_mul(tc, tc))));
            // (2) c = f * c_prev + i * g
            vf di = v_mul(dct, g), dg = v_mul(dct, i), df = v_mul(dct, v_load(c_prev + n, w));
            v_store(dc + n, v_mul(dct, f), w);
            // (3) through the gate nonlinearities
            vf ai = v_mul(v_mul(di, i), v_sub(one, i));
            vf af = v_mul(v_mul(df, f), v_sub(one, f));
            vf ag = v_mul(dg, v_sub(one, v_mul(g, g)));
            vf ao = v_mul(v_mul(d_o, o), v_sub(one, o));
            v_store(dx + u, ai, w);
            v_store(dx + H + u, af, w);
            v_store(dx + 2 * H + u, ag, w);
            v_store(dx + 3 * H + u, ao, w);
            if (dr != dx) {
                v_store(dr + u, ai, w);
                v_store(dr + H + u, af, w);
                v_store(dr + 2 * H + u, ag, w);
                v_store(dr + 3 * H + u, ao, w);
            }
            v_store(dh_prev + n, v_set1(0.0f), w);
        }
    }
}

// GRU (PyTorch's), gates r z n; cache per unit: r, z, n, ph_n.
KB_FN static void KB(gru_fwd)(int B, int H, int u0, int u1, int relu, const float *px,
                              const float *ph, const float *h_prev, const float *c_prev, float *h,
                              float *c, float *cache)
{
    (void)relu, (void)c_prev, (void)c;
    const size_t G = 3 * (size_t)H;
    const vf one = v_set1(1.0f);
    for (int b = 0; b < B; b++) {
        const float *x = px + b * G, *p = ph + b * G;
        float *k = cache + (size_t)b * 4 * H;
        for (int u = u0; u < u1; u += VW) {
            int w = u1 - u < VW ? u1 - u : VW;
            size_t n = (size_t)b * H + u;
            vf r = v_sigmoid(v_add(v_load(x + u, w), v_load(p + u, w)));
            vf z = v_sigmoid(v_add(v_load(x + H + u, w), v_load(p + H + u, w)));
            vf phn = v_load(p + 2 * H + u, w);
            vf nn = v_tanh(v_add(v_load(x + 2 * H + u, w), v_mul(r, phn)));
            vf hv = v_add(v_mul(v_sub(one, z), nn), v_mul(z, v_load(h_prev + n, w)));
            v_store(h + n, hv, w);
            v_store(k + u, r, w);
            v_store(k + H + u, z, w);
            v_store(k + 2 * H + u, nn, w);
            v_store(k + 3 * H + u, phn, w);
        }
    }
}

KB_FN static void KB(gru_bwd)(int B, int H, int u0, int u1, int relu, const float *dh, float *dc,
                              const float *h_prev, const float *c_prev, const float *h,
                              const float *c, const float *cache, float *dpx, float *dph,
                              float *dh_prev)
{
    (void)relu, (void)dc, (void)c_prev, (void)h, (void)c;
    const size_t G = 3 * (size_t)H;
    const vf one = v_set1(1.0f);
    for (int b = 0; b < B; b++) {
        const float *k = cache + (size_t)b * 4 * H;
        float *dx = dpx + b * G, *dp = dph + b * G;
        for (int u = u0; u < u1; u += VW) {
            int w = u1 - u < VW ? u1 - u : VW;
            size_t i = (size_t)b * H + u;
            vf r = v_load(k + u, w), z = v_load(k + H + u, w), nn = v_load(k + 2 * H + u, w);
            vf phn = v_load(k + 3 * H + u, w), dhv = v_load(dh + i, w);
            // (1) h = (1 - z) n + z h_prev
            vf dn = v_mul(dhv, v_sub(one, z));
            vf dz = v_mul(dhv, v_sub(v_load(h_prev + i, w), nn));
            v_store(dh_prev + i, v_mul(dhv, z), w);
            // (2) n = tanh(px_n + r * ph_n)
            vf dan = v_mul(dn, v_sub(one, v_mul(nn, nn)));
            vf dr = v_mul(dan, phn);
            v_store(dx + 2 * H + u, dan, w);
            v_store(dp + 2 * H + u, v_mul(dan, r), w);
            // (3) r, z through their sigmoids
            vf dar = v_mul(v_mul(dr, r), v_sub(one, r));
            vf daz = v_mul(v_mul(dz, z), v_sub(one, z));
            v_store(dx + u, dar, w);
            v_store(dp + u, dar, w);
            v_store(dx + H + u, daz, w);
            v_store(dp + H + u, daz, w);
        }
    }
}

/* ---------------------------------------------------------------- loss */

// Softmax cross-entropy by rows: max, exp(z - max) once per logit (kept in
// z), the sum in double in index order, then the gradient from the kept exps.
// Without the gradient, the loss is computed in double precision instead.
KB_FN static double KB(xent)(float *z0, const int32_t *tgt, int n0, int n1, int V, int want_grad,
                             float scale)
{
    double total = 0.0;
    for (int n = n0; n < n1; n++) {
        float *z = z0 + (size_t)n * V;
        int t = tgt[n];
        float mx = z[0];
        for (int j = 1; j < V; j++) mx = z[j] > mx ? z[j] : mx;
        float zt = t >= 0 ? z[t] : 0.0f;
        if (!want_grad) {
            // The loss alone (evaluation, validation, numerical gradients):
            // in double, as exactly as the float logits allow.
            double sum = 0.0;
            for (int j = 0; j < V; j++) sum += exp((double)z[j] - mx);
            if (t >= 0) total += (double)mx + log(sum) - zt;
            continue;
        }
        double sum = 0.0;
        for (int j = 0; j < V; j += VW) {
            int w = V - j < VW ? V - j : VW;
            vf e = v_exp(v_sub(v_load(z + j, w), v_set1(mx)));
            v_store(z + j, e, w);
            for (int q = 0; q < w; q++) sum += z[j + q];
        }
        if (t < 0) {
            for (int j = 0; j < V; j++) z[j] = 0.0f;
            continue;
        }
        total += (double)mx + log(sum) - zt;
        // d(mean loss)/dz = softmax(z) * scale - onehot(target) * scale
        vf s = v_set1((float)(scale / sum));
        for (int j = 0; j < V; j += VW) {
            int w = V - j < VW ? V - j : VW;
            v_store(z + j, v_mul(v_load(z + j, w), s), w);
        }
        z[t] -= scale;
    }
    return total;
}
