/* PENNANT staggered-grid Lagrangian hydrodynamics: the physics, written once per mesh entity
 * (point, zone, corner) and shared by the Legion CPU tasks, the CUDA kernels and the sequential
 * reference. Nothing here depends on Legion. Meshes are rectangular grids of quadrilateral
 * zones; zone z has sides 4z .. 4z+3, side n runs from corner point n to corner point n+1
 * (counter-clockwise), and the corner of side n sits at its first point. */
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define HD __host__ __device__
#else
#define HD
#endif

namespace pennant {

/* ---- fields: index i of an entity's field list; the Legion field ID is base + i ---- */
enum PointField {
  PX_X, PX_Y, PU_X, PU_Y, PX0_X, PX0_Y, PU0_X, PU0_Y, PXP_X, PXP_Y, PF_X, PF_Y, PMASWT,
  POWNER,  // Point<1>: the piece owning the point (for partition_by_field)
  PBC,     // int32: bit 0 on an x boundary plane, bit 1 on a y plane
  NPF
};
enum ZoneField {
  ZX_X, ZX_Y, ZXP_X, ZXP_Y, ZAREA, ZVOL, ZAREAP, ZVOLP, ZVOL0, ZDL, ZM, ZR, ZRP, ZE, ZETOT, ZW, ZWRATE, ZP, ZSS, ZDU,
  NZF
};
enum SideField {
  MAPSZ,       // Point<1>: the side's zone (for by_preimage)
  MAPSP1,      // Point<1>: the side's first point (for by_image)
  MAPSP1_REG,  // int32: 0 when that point is in the piece's private points, 1 when in its ghost points
  EXP_X, EXP_Y, SAREA, SVOL, SAREAP, SVOLP, SSURFP_X, SSURFP_Y, ELEN, SMF, CMASWT, SFP_X, SFP_Y, SFQ_X, SFQ_Y,
  CFTOT_X, CFTOT_Y,
  NSF
};
constexpr int POINT_FID_BASE = 300, ZONE_FID_BASE = 100, SIDE_FID_BASE = 200;

/* One field of a 1-D instance: the element of point i is *(T *)(base + i * stride). */
struct FieldView {
  char *base;
  long long stride;  // bytes
};

/* Views of the fields a kernel may touch; points come in two regions (0: the piece's private or
 * shared points, 1: its ghost points); `atomic[r]` says region r's point sums need atomics. */
struct Views {
  FieldView z[NZF];
  FieldView s[NSF];
  FieldView p[2][NPF];
};

/* Problem constants from the deck. */
struct Params {
  long long nzx, nzy, numpcx, numpcy;
  double lenx, leny;
  double subregion[4];
  int has_subregion;
  double rinit, einit, rinitsub, einitsub, uinitradial;
  double bcx[4], bcy[4];
  int nbcx, nbcy;
  double gamma, ssmin, alfa, q1, q2, qgamma, cfl, cflv;
  double dtinit, dtmax, dtfac, tstop;
  long long cstop;
};

/* Time-step state, a future carried from cycle to cycle. */
struct DtState {
  double time, dt;  // time at the start of this cycle, and its step
  long long cycle;
  int done;         // set once tstop or cstop is reached, or the state became invalid: later cycles change nothing
  int failed;       // the last cycle left an invalid state (an inverted zone, a value not finite)
};

/* What calc_energy_dt returns for a zone whose state is invalid; any time-step limit that is not
 * positive ends the run (next_dt). */
constexpr double INVALID_DT = -1.0;

struct double2 {
  double x, y;
};
HD inline double2 operator+(double2 a, double2 b) { return {a.x + b.x, a.y + b.y}; }
HD inline double2 operator-(double2 a, double2 b) { return {a.x - b.x, a.y - b.y}; }
HD inline double2 operator-(double2 a) { return {-a.x, -a.y}; }
HD inline double2 operator*(double a, double2 b) { return {a * b.x, a * b.y}; }
HD inline double2 operator*(double2 b, double a) { return {a * b.x, a * b.y}; }
HD inline double2 operator/(double2 b, double a) { return {b.x / a, b.y / a}; }
HD inline double dot(double2 a, double2 b) { return a.x * b.x + a.y * b.y; }
HD inline double cross(double2 a, double2 b) { return a.x * b.y - a.y * b.x; }
HD inline double length2(double2 a) { return dot(a, a); }
HD inline double length(double2 a) { return sqrt(dot(a, a)); }
HD inline double2 rotate_ccw(double2 a) { return {-a.y, a.x}; }
HD inline double dmin(double a, double b) { return a < b ? a : b; }
HD inline double dmax(double a, double b) { return a > b ? a : b; }
HD inline bool is_finite(double a) { return fabs(a) <= 1.7976931348623157e308; }  // false for NaN and infinities

template <typename T>
HD inline T &F(const FieldView &f, long long i) { return *reinterpret_cast<T *>(f.base + i * f.stride); }
HD inline double &D(const FieldView &f, long long i) { return F<double>(f, i); }
HD inline double2 get2(const FieldView *f, int fx, long long i) { return {D(f[fx], i), D(f[fx + 1], i)}; }
HD inline void set2(const FieldView *f, int fx, long long i, double2 v) { D(f[fx], i) = v.x, D(f[fx + 1], i) = v.y; }

HD inline void add_double(double *target, double value, bool atomic)
{
#ifdef __CUDA_ARCH__
  (void)atomic;
  atomicAdd(target, value);
#else
  if (!atomic) {
    *target += value;
    return;
  }
  uint64_t *word = reinterpret_cast<uint64_t *>(target);
  uint64_t old = __atomic_load_n(word, __ATOMIC_RELAXED), next;
  do {
    double sum;
    __builtin_memcpy(&sum, &old, sizeof(sum));
    sum += value;
    __builtin_memcpy(&next, &sum, sizeof(next));
  } while (!__atomic_compare_exchange_n(word, &old, next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
#endif
}

/* The four corner points of zone z: their indices and which point region holds each. */
struct ZonePoints {
  long long p[4];
  int r[4];
};
HD inline ZonePoints zone_points(const Views &v, long long z)
{
  ZonePoints zp;
  for (int n = 0; n < 4; n++) {
    zp.p[n] = F<long long>(v.s[MAPSP1], 4 * z + n);
    zp.r[n] = F<int32_t>(v.s[MAPSP1_REG], 4 * z + n);
  }
  return zp;
}
HD inline double2 point2(const Views &v, const ZonePoints &zp, int n, int f) { return get2(v.p[zp.r[n]], f, zp.p[n]); }

/* Centers, side areas and volumes (cylindrical: volume = area x radius) of a zone whose
 * corners are at x[4]; returns false if a side volume is not positive (or not a number). */
struct Geometry {
  double2 zx, ex[4];
  double sarea[4], svol[4], zarea, zvol;
};
HD inline bool zone_geometry(const double2 *x, Geometry &g)
{
  g.zx = 0.25 * (x[0] + x[1] + x[2] + x[3]);
  g.zarea = g.zvol = 0.0;
  bool ok = true;
  for (int n = 0; n < 4; n++) {
    const double2 a = x[n], b = x[(n + 1) & 3];
    g.ex[n] = 0.5 * (a + b);
    g.sarea[n] = 0.5 * cross(b - a, g.zx - a);
    g.svol[n] = (1.0 / 3.0) * g.sarea[n] * (a.x + b.x + g.zx.x);
    g.zarea += g.sarea[n];
    g.zvol += g.svol[n];
    ok = ok && g.svol[n] > 0.0;
  }
  return ok;
}

/* ---- point phase ---- */

/* adv_pos_half: save the cycle's starting state, advance the points half a step, and zero the
 * point sums (owners zero their shared points; other pieces' ghost reductions fold in). */
HD inline void adv_pos_half(const Views &v, long long i, double dt)
{
  const FieldView *p = v.p[0];
  double2 x = get2(p, PX_X, i), u = get2(p, PU_X, i);
  set2(p, PX0_X, i, x);
  set2(p, PU0_X, i, u);
  set2(p, PXP_X, i, x + 0.5 * dt * u);
  set2(p, PF_X, i, {0.0, 0.0});
  D(p[PMASWT], i) = 0.0;
}

/* adv_pos_full: boundary conditions, acceleration, and the full step. */
HD inline void adv_pos_full(const Views &v, long long i, double dt)
{
  const FieldView *p = v.p[0];
  double2 u0 = get2(p, PU0_X, i), f = get2(p, PF_X, i);
  int bc = F<int32_t>(p[PBC], i);
  if (bc & 1) u0.x = 0.0, f.x = 0.0;
  if (bc & 2) u0.y = 0.0, f.y = 0.0;
  set2(p, PU0_X, i, u0);
  set2(p, PF_X, i, f);
  double2 a = f / dmax(D(p[PMASWT], i), 1e-99);
  double2 u = u0 + dt * a;
  set2(p, PU_X, i, u);
  set2(p, PX_X, i, get2(p, PX0_X, i) + 0.5 * dt * (u + u0));
}

/* ---- zone phase (each zone with its four sides and corners) ---- */

/* calc_geometry_half: geometry at the half step, edge lengths, surface vectors, zone
 * characteristic length; zvol0 keeps the volume at the start of the cycle. */
HD inline void calc_geometry_half(const Views &v, long long z)
{
  ZonePoints zp = zone_points(v, z);
  double2 x[4];
  for (int n = 0; n < 4; n++) x[n] = point2(v, zp, n, PXP_X);
  Geometry g;
  bool ok = zone_geometry(x, g);
  D(v.z[ZVOL0], z) = D(v.z[ZVOL], z);
  set2(v.z, ZXP_X, z, g.zx);
  D(v.z[ZAREAP], z) = g.zarea;
  D(v.z[ZVOLP], z) = ok ? g.zvol : NAN;  // an inverted zone has no volume: calc_energy_dt reports it
  double zdl = 1e99;
  for (int n = 0; n < 4; n++) {
    long long s = 4 * z + n;
    double elen = length(x[(n + 1) & 3] - x[n]);
    set2(v.s, EXP_X, s, g.ex[n]);
    D(v.s[SAREAP], s) = g.sarea[n];
    D(v.s[SVOLP], s) = g.svol[n];
    set2(v.s, SSURFP_X, s, rotate_ccw(g.ex[n] - g.zx));
    D(v.s[ELEN], s) = elen;
    zdl = dmin(zdl, 4.0 * g.sarea[n] / elen);
  }
  D(v.z[ZDL], z) = zdl;
}

/* calc_forces: density and corner masses at the half step, equation of state advanced to the
 * half step, pressure, subzonal-pressure (TTS) and artificial-viscosity (QCS) forces, and the
 * total force on each corner. */
HD inline void calc_forces(const Views &v, const Params &prm, long long z, double dt)
{
  const long long s0 = 4 * z;
  ZonePoints zp = zone_points(v, z);
  double2 pu[4], px[4], ex[4], ssurf[4];
  double elen[4], smf[4], sareap[4];
  for (int n = 0; n < 4; n++) {
    pu[n] = point2(v, zp, n, PU0_X);
    px[n] = point2(v, zp, n, PXP_X);
    ex[n] = get2(v.s, EXP_X, s0 + n);
    ssurf[n] = get2(v.s, SSURFP_X, s0 + n);
    elen[n] = D(v.s[ELEN], s0 + n);
    smf[n] = D(v.s[SMF], s0 + n);
    sareap[n] = D(v.s[SAREAP], s0 + n);
  }
  const double2 zx = get2(v.z, ZXP_X, z);
  const double zm = D(v.z[ZM], z), zvolp = D(v.z[ZVOLP], z), zareap = D(v.z[ZAREAP], z);
  const double zr = D(v.z[ZR], z), zvol0 = D(v.z[ZVOL0], z);
  const double zrp = zm / zvolp;
  D(v.z[ZRP], z) = zrp;
  for (int n = 0; n < 4; n++) D(v.s[CMASWT], s0 + n) = zrp * zareap * 0.5 * (smf[n] + smf[(n + 3) & 3]);

  // equation of state at the start of the step, then advanced to the half step
  const double gm1 = prm.gamma - 1.0, ss2 = dmax(prm.ssmin * prm.ssmin, 1e-99);
  const double ex0 = dmax(D(v.z[ZE], z), 0.0);
  double zpress = gm1 * zr * ex0;
  const double per = gm1 * zr;
  const double zss = sqrt(dmax(ss2, gm1 * ex0 + per * zpress / (zr * zr)));
  {
    double zminv = 1.0 / zm, dv = (zvolp - zvol0) * zminv, bulk = zr * zss * zss;
    double denom = 1.0 + 0.5 * per * dv, src = D(v.z[ZWRATE], z) * 0.5 * dt * zminv;
    zpress += (per * src - zr * bulk * dv) / denom;
  }
  D(v.z[ZP], z) = zpress;
  D(v.z[ZSS], z) = zss;

  // pressure and TTS forces per side
  double2 sf[4];
  for (int n = 0; n < 4; n++) {
    double2 sfp = -zpress * ssurf[n];
    double srho = zrp * smf[n] * zareap / sareap[n];
    double sstmp = dmax(zss, prm.ssmin);
    double sdp = prm.alfa * sstmp * sstmp * (srho - zrp);
    double2 sft = -sdp * ssurf[n];
    set2(v.s, SFP_X, s0 + n, sfp);
    sf[n] = sfp + sft;
  }

  // QCS artificial viscosity: corner divergence, Kurapatenko viscous scalar, corner forces
  double2 zu = 0.25 * (pu[0] + pu[1] + pu[2] + pu[3]);
  double carea[4], cdiv[4], cevol[4], cdu[4], ccos[4], cw[4];
  double2 cqe[4][2];
  for (int n = 0; n < 4; n++) {
    int nm = (n + 3) & 3, np = (n + 1) & 3;
    double2 up0 = pu[n], xp0 = px[n];
    double2 up1 = 0.5 * (pu[n] + pu[np]), xp1 = ex[n];
    double2 up2 = zu, xp2 = zx;
    double2 up3 = 0.5 * (pu[nm] + pu[n]), xp3 = ex[nm];
    double cvol = 0.5 * cross(xp2 - xp0, xp3 - xp1);
    carea[n] = cvol;
    double de1 = elen[nm], de2 = elen[n], minelen = dmin(de1, de2);
    ccos[n] = minelen < 1e-12 ? 0.0 : 4.0 * dot(xp3 - xp0, xp1 - xp0) / (de1 * de2);
    cdiv[n] = (cross(up2 - up0, xp3 - xp1) - cross(up3 - up1, xp2 - xp0)) / (2.0 * cvol);
    double2 dxx1 = 0.5 * (xp1 + xp2 - xp0 - xp3), dxx2 = 0.5 * (xp2 + xp3 - xp0 - xp1);
    double dx1 = length(dxx1), dx2 = length(dxx2);
    double2 duav = 0.25 * (up0 + up1 + up2 + up3);
    double test1 = fabs(dot(dxx1, duav) * dx2), test2 = fabs(dot(dxx2, duav) * dx1);
    double num = test1 > test2 ? dx1 : dx2, den = test1 > test2 ? dx2 : dx1;
    double evol = dmin(sqrt(4.0 * cvol * num / den), 2.0 * minelen);
    double dv1 = length2(up1 + up2 - up0 - up3), dv2 = length2(up2 + up3 - up0 - up1);
    cevol[n] = cdiv[n] < 0.0 ? evol : 0.0;
    cdu[n] = cdiv[n] < 0.0 ? sqrt(dmax(dv1, dv2)) : 0.0;
  }
  for (int n = 0; n < 4; n++) {
    int nm = (n + 3) & 3, np = (n + 1) & 3;
    double ztmp2 = prm.q2 * 0.25 * (prm.qgamma + 1.0) * cdu[n], ztmp1 = prm.q1 * zss;
    double zkur = ztmp2 + sqrt(ztmp2 * ztmp2 + ztmp1 * ztmp1);
    double rmu = cdiv[n] > 0.0 ? 0.0 : zkur * zrp * cevol[n];
    cqe[n][0] = rmu * (pu[n] - pu[nm]) / elen[nm];
    cqe[n][1] = rmu * (pu[np] - pu[n]) / elen[n];
    double csin2 = 1.0 - ccos[n] * ccos[n];
    cw[n] = csin2 < 1e-4 ? 0.0 : carea[n] / csin2;
    ccos[n] = csin2 < 1e-4 ? 0.0 : ccos[n];
  }
  double zdu = 0.0;
  for (int n = 0; n < 4; n++) {
    int np = (n + 1) & 3;
    double2 sfq = (cw[n] * (cqe[n][1] + ccos[n] * cqe[n][0]) + cw[np] * (cqe[np][0] + ccos[np] * cqe[np][1])) / elen[n];
    set2(v.s, SFQ_X, s0 + n, sfq);
    sf[n] = sf[n] + sfq;
    double dux = dot(pu[np] - pu[n], px[np] - px[n]);
    zdu = dmax(zdu, elen[n] > 0.0 ? fabs(dux) / elen[n] : 0.0);
  }
  D(v.z[ZDU], z) = prm.q1 * zss + 2.0 * prm.q2 * zdu;
  for (int n = 0; n < 4; n++) set2(v.s, CFTOT_X, s0 + n, sf[n] - sf[(n + 3) & 3]);
}

/* sum_point_mass_force: corner masses and forces into the corner's point. */
HD inline void sum_to_points(const Views &v, long long s, const bool *atomic)
{
  long long p = F<long long>(v.s[MAPSP1], s);
  int r = F<int32_t>(v.s[MAPSP1_REG], s);
  add_double(&D(v.p[r][PMASWT], p), D(v.s[CMASWT], s), atomic[r]);
  add_double(&D(v.p[r][PF_X], p), D(v.s[CFTOT_X], s), atomic[r]);
  add_double(&D(v.p[r][PF_Y], p), D(v.s[CFTOT_Y], s), atomic[r]);
}

/* calc_geometry_full_work: geometry at the end of the step, and the work the forces did. */
HD inline void calc_geometry_full_work(const Views &v, long long z, double dt)
{
  const long long s0 = 4 * z;
  ZonePoints zp = zone_points(v, z);
  double2 x[4], u0[4], u[4], xp[4];
  for (int n = 0; n < 4; n++) {
    x[n] = point2(v, zp, n, PX_X);
    u0[n] = point2(v, zp, n, PU0_X);
    u[n] = point2(v, zp, n, PU_X);
    xp[n] = point2(v, zp, n, PXP_X);
  }
  Geometry g;
  bool ok = zone_geometry(x, g);
  set2(v.z, ZX_X, z, g.zx);
  D(v.z[ZAREA], z) = g.zarea;
  D(v.z[ZVOL], z) = ok ? g.zvol : NAN;
  double work = 0.0;
  for (int n = 0; n < 4; n++) {
    int np = (n + 1) & 3;
    D(v.s[SAREA], s0 + n) = g.sarea[n];
    D(v.s[SVOL], s0 + n) = g.svol[n];
    double2 sftot = get2(v.s, SFP_X, s0 + n) + get2(v.s, SFQ_X, s0 + n);
    double sd1 = dot(sftot, u0[n] + u[n]), sd2 = dot(-sftot, u0[np] + u[np]);
    work += -0.5 * dt * (sd1 * xp[n].x + sd2 * xp[np].x);
  }
  D(v.z[ZETOT], z) += work;
  D(v.z[ZW], z) = work;
}

/* calc_energy_dt: work rate, energy and density at the end of the step; returns the zone's
 * time-step limit (Courant and volume change), or INVALID_DT if the zone turned inside out
 * during the step or its state is not finite. */
HD inline double calc_energy_dt(const Views &v, const Params &prm, long long z, double dt)
{
  const double zvol = D(v.z[ZVOL], z), zvol0 = D(v.z[ZVOL0], z), zvolp = D(v.z[ZVOLP], z), zm = D(v.z[ZM], z);
  D(v.z[ZWRATE], z) = (D(v.z[ZW], z) + D(v.z[ZP], z) * (zvol - zvol0)) / dt;
  const double ze = D(v.z[ZETOT], z) / (zm + 1e-99);
  D(v.z[ZE], z) = ze;
  D(v.z[ZR], z) = zm / zvol;
  double cdu = dmax(D(v.z[ZDU], z), dmax(D(v.z[ZSS], z), 1e-99));
  double dt_courant = D(v.z[ZDL], z) * prm.cfl / cdu;
  double dvov = dmax(fabs((zvol - zvol0) / zvol0), 1e-99);
  double limit = dmin(dt_courant, dt * prm.cflv / dvov);
  bool valid = zvol > 0.0 && zvolp > 0.0 && is_finite(zvol) && is_finite(zvolp) && is_finite(ze) && is_finite(D(v.z[ZP], z)) &&
               limit > 0.0 && is_finite(limit);
  return valid ? limit : INVALID_DT;
}

/* The next cycle's time step from the last one and the hydro limit. */
inline DtState next_dt(const Params &prm, const DtState &last, double dt_hydro)
{
  DtState st = last;
  st.time = last.time + last.dt;
  st.cycle = last.cycle + 1;
  if (!last.done && !(dt_hydro > 0.0)) {  // the last cycle left an invalid state: stop here
    st.done = 1, st.failed = 1, st.dt = 0.0, st.cycle = last.cycle;
    return st;
  }
  if (last.done || st.time >= prm.tstop || st.cycle > prm.cstop) {
    st.done = 1, st.dt = 0.0, st.cycle = last.cycle;
    st.time = last.done ? last.time : st.time;
    return st;
  }
  double dt = prm.dtmax;
  if (st.cycle == 1) dt = dmin(dt, prm.dtinit);
  else dt = dmin(dt, prm.dtfac * last.dt);
  if (prm.tstop - st.time < dt) dt = prm.tstop - st.time;
  if (dt_hydro < dt) dt = dt_hydro;
  st.dt = dt;
  return st;
}

/* ---- the mesh ---- */

/* Zones [first, first + count) of piece k; piece k covers zone columns [x0, x1), rows [y0, y1). */
struct PieceBlock {
  long long x0, x1, y0, y1, first;
};
inline long long cut(long long n, long long parts, long long i) { return i * n / parts; }
inline PieceBlock piece_block(const Params &prm, long long k)
{
  PieceBlock b;
  long long i = k % prm.numpcx, j = k / prm.numpcx;
  b.x0 = cut(prm.nzx, prm.numpcx, i), b.x1 = cut(prm.nzx, prm.numpcx, i + 1);
  b.y0 = cut(prm.nzy, prm.numpcy, j), b.y1 = cut(prm.nzy, prm.numpcy, j + 1);
  // pieces before k: full rows of pieces below, then pieces to the left in this row
  b.first = b.y0 * prm.nzx + (b.y1 - b.y0) * b.x0;
  return b;
}
inline long long point_id(const Params &prm, long long gi, long long gj) { return gj * (prm.nzx + 1) + gi; }
inline double2 point_pos(const Params &prm, long long gi, long long gj)
{
  return {prm.lenx * double(gi) / double(prm.nzx), prm.leny * double(gj) / double(prm.nzy)};
}
/* The piece owning grid point (gi, gj): the one whose block holds it, the last one on ties at
 * the far edges. */
inline long long point_owner(const Params &prm, long long gi, long long gj)
{
  long long i = (gi * prm.numpcx) / prm.nzx, j = (gj * prm.numpcy) / prm.nzy;
  if (i >= prm.numpcx) i = prm.numpcx - 1;
  if (j >= prm.numpcy) j = prm.numpcy - 1;
  while (i > 0 && cut(prm.nzx, prm.numpcx, i) > gi) i--;
  while (i + 1 < prm.numpcx && cut(prm.nzx, prm.numpcx, i + 1) <= gi) i++;
  while (j > 0 && cut(prm.nzy, prm.numpcy, j) > gj) j--;
  while (j + 1 < prm.numpcy && cut(prm.nzy, prm.numpcy, j + 1) <= gj) j++;
  return j * prm.numpcx + i;
}

inline double2 initial_velocity(const Params &prm, double2 x)
{
  double mag = length(x);
  return prm.uinitradial != 0.0 && mag > 1e-12 ? prm.uinitradial * x / mag : double2{0.0, 0.0};
}

/* Initial values of point (gi, gj). */
inline void init_point(const Params &prm, const Views &v, long long gi, long long gj)
{
  const FieldView *p = v.p[0];
  long long id = point_id(prm, gi, gj);
  double2 x = point_pos(prm, gi, gj), u = initial_velocity(prm, x);
  int bc = 0;
  for (int k = 0; k < prm.nbcx; k++) if (fabs(x.x - prm.bcx[k]) < 1e-12) bc |= 1;
  for (int k = 0; k < prm.nbcy; k++) if (fabs(x.y - prm.bcy[k]) < 1e-12) bc |= 2;
  set2(p, PX_X, id, x);
  set2(p, PU_X, id, u);
  set2(p, PX0_X, id, x);
  set2(p, PU0_X, id, u);
  set2(p, PXP_X, id, x);
  set2(p, PF_X, id, {0.0, 0.0});
  D(p[PMASWT], id) = 0.0;
  F<long long>(p[POWNER], id) = point_owner(prm, gi, gj);
  F<int32_t>(p[PBC], id) = bc;
}

/* Initial values of zone z (piece block b, local zone index l) and its sides. Returns the zone's
 * time-step limit in that state: the Courant limit calc_energy_dt applies to later cycles, with
 * the sound speed and velocity jumps of the initial state. The first cycle takes no step longer
 * than this, whatever the deck's dtinit, so that a deck run on a finer mesh (-nzx, -nzy) stays
 * stable. */
inline double init_zone(const Params &prm, const Views &v, const PieceBlock &b, long long l)
{
  long long w = b.x1 - b.x0, z = b.first + l;
  long long gi = b.x0 + l % w, gj = b.y0 + l / w;
  long long gx[4] = {gi, gi + 1, gi + 1, gi}, gy[4] = {gj, gj, gj + 1, gj + 1};
  double2 x[4];
  for (int n = 0; n < 4; n++) x[n] = point_pos(prm, gx[n], gy[n]);
  Geometry g;
  zone_geometry(x, g);
  double r = prm.rinit, e = prm.einit;
  if (prm.has_subregion) {
    const double eps = 1e-12;
    const double *sr = prm.subregion;
    if (g.zx.x > sr[0] - eps && g.zx.x < sr[1] + eps && g.zx.y > sr[2] - eps && g.zx.y < sr[3] + eps)
      r = prm.rinitsub, e = prm.einitsub;
  }
  double zm = r * g.zvol;
  double init[NZF] = {};
  init[ZX_X] = init[ZXP_X] = g.zx.x, init[ZX_Y] = init[ZXP_Y] = g.zx.y;
  init[ZAREA] = init[ZAREAP] = g.zarea, init[ZVOL] = init[ZVOLP] = init[ZVOL0] = g.zvol;
  init[ZM] = zm, init[ZR] = init[ZRP] = r, init[ZE] = e, init[ZETOT] = e * zm;
  for (int f = 0; f < NZF; f++) D(v.z[f], z) = init[f];
  for (int n = 0; n < 4; n++) {
    long long s = 4 * z + n;
    double sinit[NSF] = {};
    sinit[EXP_X] = g.ex[n].x, sinit[EXP_Y] = g.ex[n].y;
    sinit[SAREA] = sinit[SAREAP] = g.sarea[n], sinit[SVOL] = sinit[SVOLP] = g.svol[n];
    sinit[ELEN] = length(x[(n + 1) & 3] - x[n]);
    sinit[SMF] = g.sarea[n] / g.zarea;
    for (int f = EXP_X; f < NSF; f++) D(v.s[f], s) = sinit[f];
    F<long long>(v.s[MAPSZ], s) = z;
    F<long long>(v.s[MAPSP1], s) = point_id(prm, gx[n], gy[n]);
    F<int32_t>(v.s[MAPSP1_REG], s) = 0;
  }
  const double gm1 = prm.gamma - 1.0, ex = dmax(e, 0.0);
  const double zss = sqrt(dmax(dmax(prm.ssmin * prm.ssmin, 1e-99), gm1 * ex + gm1 * gm1 * ex));
  double zdl = 1e99, zdu = 0.0;
  for (int n = 0; n < 4; n++) {
    int np = (n + 1) & 3;
    double elen = length(x[np] - x[n]);
    double dux = dot(initial_velocity(prm, x[np]) - initial_velocity(prm, x[n]), x[np] - x[n]);
    zdl = dmin(zdl, 4.0 * g.sarea[n] / elen);
    zdu = dmax(zdu, fabs(dux) / elen);
  }
  double cdu = dmax(prm.q1 * zss + 2.0 * prm.q2 * zdu, zss);
  return zdl * prm.cfl / cdu;
}

/* Internal and kinetic energy of zone z (cylindrical: times 2 pi), the kinetic part from each
 * corner's share of the zone's mass. */
inline void zone_energy(const Views &v, long long z, double &ei, double &ek)
{
  ZonePoints zp = zone_points(v, z);
  const double zm = D(v.z[ZM], z), zvol = D(v.z[ZVOL], z), zarea = D(v.z[ZAREA], z);
  ei += D(v.z[ZETOT], z) * 2.0 * M_PI;
  for (int n = 0; n < 4; n++) {
    long long s = 4 * z + n;
    double2 x = point2(v, zp, n, PX_X), u = point2(v, zp, n, PU_X);
    double cvol = zarea * x.x * 0.5 * (D(v.s[SMF], s) + D(v.s[SMF], 4 * z + ((n + 3) & 3)));
    ek += zm * cvol / zvol * 0.5 * length2(u) * 2.0 * M_PI;
  }
}

#ifdef HPCMAP_USE_CUDA
enum GpuKernel { K_ADV_POS_HALF, K_GEOMETRY_HALF, K_FORCES, K_SUM_TO_POINTS, K_ADV_POS_FULL, K_GEOMETRY_FULL_WORK, K_ENERGY_DT };
/* The points of a (possibly sparse) index space as runs: run r starts at point lo and is the
 * start-th point of the space; a sentinel run's start is the total. */
struct Run {
  long long lo, start;
};
/* Launches kernel k on `stream` over the `n_runs` runs (host memory; a sentinel run follows them)
 * holding `total` entities; the runs go to the device in the kernels' arguments, in chunks.
 * K_ENERGY_DT also synchronizes and returns the minimum time-step limit; the other kernels return
 * 0 without synchronizing. Needs no memory beyond the regions' instances. */
double launch_gpu(GpuKernel k, const Views &v, const Params &prm, double dt, const bool *atomic, const Run *runs,
                  int n_runs, long long total, void *stream);
#endif

}  // namespace pennant
