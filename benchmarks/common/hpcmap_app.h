/* Helpers shared by hpcmap's benchmarks: flags, timing, the HPCMAP_RESULT line, stale-data fault
 * injection, and answer fingerprints kept per problem in a reference file. */
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "legion.h"

namespace hpcmap_app {

/* Registers FN as task `id`'s variant for processors of `kind`; a task whose FN returns a value
 * gets that value as its future. Leaf variants launch no subtasks. The others (the top-level
 * task) are replicable: on several nodes a mapper may control-replicate them, one shard per node,
 * so their launches are sharded across the nodes instead of all issued from one. */
template <auto FN>
void register_variant(Legion::TaskID id, const char *name, Legion::Processor::Kind kind, bool leaf = true)
{
  using Result = std::invoke_result_t<decltype(FN), const Legion::Task *, const std::vector<Legion::PhysicalRegion> &,
                                      Legion::Context, Legion::Runtime *>;
  Legion::TaskVariantRegistrar registrar(id, name);
  registrar.add_constraint(Legion::ProcessorConstraint(kind));
  if (leaf) registrar.set_leaf();
  else registrar.set_replicable();
  if constexpr (std::is_void_v<Result>)
    Legion::Runtime::preregister_task_variant<FN>(registrar, name);
  else
    Legion::Runtime::preregister_task_variant<Result, FN>(registrar, name);
}

/* The value of integer flag `name` (e.g. "-nx") in the process's command line, or `fallback`.
 * A flag given twice takes its last value, so arguments added after an app's usual ones win. */
inline long long int_flag(const Legion::InputArgs &args, const char *name, long long fallback)
{
  for (int i = args.argc - 2; i >= 1; i--)
    if (!strcmp(args.argv[i], name)) return atoll(args.argv[i + 1]);
  return fallback;
}

/* The value of string flag `name`, or `fallback`; the last one given wins. */
inline std::string str_flag(const Legion::InputArgs &args, const char *name, const char *fallback)
{
  for (int i = args.argc - 2; i >= 1; i--)
    if (!strcmp(args.argv[i], name)) return args.argv[i + 1];
  return fallback;
}

/* A timestamp (microseconds) taken after every operation issued so far has finished. */
inline long long fenced_time_us(Legion::Context ctx, Legion::Runtime *runtime)
{
  runtime->issue_execution_fence(ctx);
  return runtime->get_current_time_in_microseconds(ctx).get_result<long long>();
}

/* Prints the one line hpcmap reads. `extra` is a JSON fragment (`"k": v, ...`) or empty. */
inline void print_result(const char *app, double elapsed_s, double metric, const char *unit,
                         bool passed, const std::string &extra)
{
  printf("HPCMAP_RESULT {\"app\": \"%s\", \"elapsed_s\": %.9f, \"metric\": %.6f, \"unit\": \"%s\", "
         "\"check\": \"%s\"%s%s}\n",
         app, elapsed_s, metric, unit, passed ? "pass" : "fail", extra.empty() ? "" : ", ",
         extra.c_str());
  fflush(stdout);
}

/* Runs fn(lo, hi) over contiguous ranges covering [0, n), one per host core, on plain threads:
 * for the sequential references' loops whose iterations are independent, so that the result does
 * not depend on the split and large problems are checked in reasonable time. */
template <typename FN>
void parallel_ranges(long long n, FN fn)
{
  long long threads = std::min<long long>(std::max(1u, std::thread::hardware_concurrency()), n / 4096 + 1);
  if (threads <= 1) {
    fn(0LL, n);
    return;
  }
  std::vector<std::thread> pool;
  for (long long t = 0; t < threads; t++) pool.emplace_back(fn, n * t / threads, n * (t + 1) / threads);
  for (std::thread &t : pool) t.join();
}

/* ---- `-fault stale`: one point task skips its work, so its piece of data stays stale, as if a
 * mapper had handed it an out-of-date or misplaced instance. The check must then fail. The mark
 * travels as the launch's global argument, in place of the task's usual one, for one launch. ---- */

struct StaleMark {
  int mark;  // STALE_MARK
  int dim;
  long long point[3];
  static constexpr int STALE_MARK = 0x57A1E;
};

/* The global argument of a launch whose point `p` must skip its work; `mark` must outlive the launch. */
inline Legion::UntypedBuffer stale_at(const Legion::DomainPoint &p, StaleMark &mark)
{
  mark = StaleMark{StaleMark::STALE_MARK, p.get_dim(), {0, 0, 0}};
  for (int d = 0; d < p.get_dim() && d < 3; d++) mark.point[d] = p[d];
  return Legion::UntypedBuffer(&mark, sizeof(mark));
}

/* True for the point task that `stale_at` marked: it must return without touching its regions. */
inline bool skip_point(const Legion::Task *task)
{
  if (task->arglen != sizeof(StaleMark)) return false;
  const StaleMark &m = *(const StaleMark *)task->args;
  if (m.mark != StaleMark::STALE_MARK || m.dim != task->index_point.get_dim()) return false;
  for (int d = 0; d < m.dim && d < 3; d++)
    if (m.point[d] != task->index_point[d]) return false;
  return true;
}

/* ---- answer fingerprints ----
 * Per quantity (a field of an entity kind), BINS bins of consecutive entities; each bin holds
 * sum(w_i x_i) and sum(w_i |x_i|), w_i a fixed pseudo-random weight in [0.5, 1.5) of entity i.
 * A stale or misplaced piece of data moves the bins it falls in far beyond rounding, whatever
 * the order of the sums. A fingerprint of a trusted sequential run is kept per problem (a key
 * naming every parameter the answer depends on) in a reference file, one line per problem:
 * `KEY | N v1 .. vN`. */

template <int Q>
struct Fingerprint {
  static constexpr int BINS = 64;
  static constexpr int SIZE = 2 * Q * BINS;
  double v[SIZE];

  static Fingerprint zero()
  {
    Fingerprint f;
    for (double &x : f.v) x = 0.0;
    return f;
  }
  static double weight(long long i)
  {
    uint64_t z = uint64_t(i) * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return 0.5 + double(z >> 11) * (1.0 / 9007199254740992.0);
  }
  /* Entity `i` of `n` has value `x` of quantity `q`. */
  void add(int q, long long i, long long n, double x)
  {
    long long b = (long long)((__int128)i * BINS / n);
    double w = weight(i);
    v[2 * (q * BINS + b)] += w * x;
    v[2 * (q * BINS + b) + 1] += w * std::fabs(x);
  }
  void merge(const Fingerprint &o)
  {
    for (int k = 0; k < SIZE; k++) v[k] += o.v[k];
  }
  /* Bins whose signed or absolute sum differs from `ref` by more than `tol` times the bin's
   * reference absolute sum (at least 1e-3 times the quantity's mean over bins, so that bins of
   * values that are zero but for rounding compare like the rest); `max_err` gets the largest
   * such ratio. */
  long long differing_bins(const Fingerprint &ref, double tol, double &max_err) const
  {
    long long bad = 0;
    for (int q = 0; q < Q; q++) {
      double mean = 0.0;
      for (int b = 0; b < BINS; b++) mean += ref.v[2 * (q * BINS + b) + 1] / BINS;
      for (int b = 0; b < BINS; b++) {
        int k = 2 * (q * BINS + b);
        double scale = ref.v[k + 1] + 1e-3 * mean + 1e-300;
        double err = std::max(std::fabs(v[k] - ref.v[k]), std::fabs(v[k + 1] - ref.v[k + 1])) / scale;
        if (!(err <= tol)) bad++;  // NaN counts as different
        max_err = std::max(max_err, std::isfinite(err) ? err : 1e300);
      }
    }
    return bad;
  }
};

/* A 64-bit FNV-1a hash of `n` bytes, for keys that must name many parameters (a deck's). */
inline uint64_t hash_bytes(const void *data, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)data)[i]) * 0x100000001b3ull;
  return h;
}

/* The fingerprint stored for `key` in reference file `path`, if the file has one. */
template <int Q>
std::optional<Fingerprint<Q>> read_fingerprint(const std::string &path, const std::string &key)
{
  std::ifstream in(path);
  std::string line, prefix = key + " |";
  while (std::getline(in, line)) {
    if (line.compare(0, prefix.size(), prefix) != 0) continue;
    std::istringstream ss(line.substr(prefix.size()));
    int n = 0;
    Fingerprint<Q> f;
    if (!(ss >> n) || n != Fingerprint<Q>::SIZE) return std::nullopt;
    for (double &x : f.v)
      if (!(ss >> x)) return std::nullopt;
    return f;
  }
  return std::nullopt;
}

/* Appends `f` for `key` to reference file `path`; false if it cannot be written. */
template <int Q>
bool append_fingerprint(const std::string &path, const std::string &key, const Fingerprint<Q> &f)
{
  FILE *out = fopen(path.c_str(), "a");
  if (!out) return false;
  fprintf(out, "%s | %d", key.c_str(), Fingerprint<Q>::SIZE);
  for (double x : f.v) fprintf(out, " %.17g", x);
  fprintf(out, "\n");
  return fclose(out) == 0;
}

}  // namespace hpcmap_app
