/* Machine spaces: transformation checks, extents, and the index maps of IR.md section 6. */
#include "space.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace hpcmap {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

void check_dim(int64_t d, size_t n)
{
  if (d < 0 || d >= (int64_t)n)
    throw std::invalid_argument("dimension " + str(d) + " is out of range for a space of " + str(n) + " dimensions");
}

void validate(Prim::Op op, const Tuple &a, const Tuple &s)
{
  size_t n = s.size();
  switch (op) {
    case Prim::MERGE:
      check_dim(a[0], n);
      check_dim(a[1], n);
      if (a[0] == a[1]) throw std::invalid_argument("merge needs two different dimensions, got " + str(a[0]) + " twice");
      break;
    case Prim::SPLIT:
      check_dim(a[0], n);
      if (a[1] <= 0 || s[a[0]] % a[1] != 0)
        throw std::invalid_argument("split factor " + str(a[1]) + " does not divide dimension " + str(a[0]) +
                                    " of size " + str(s[a[0]]));
      break;
    case Prim::SWAP:
      check_dim(a[0], n);
      check_dim(a[1], n);
      break;
    case Prim::SLICE:
      check_dim(a[0], n);
      if (!(0 <= a[1] && a[1] <= a[2] && a[2] < s[a[0]]))
        throw std::invalid_argument("slice " + str(a[1]) + ".." + str(a[2]) + " is out of range for dimension " +
                                    str(a[0]) + " of size " + str(s[a[0]]));
      break;
    case Prim::REVERSE:
      check_dim(a[0], n);
      break;
  }
}

Tuple out_size(const Prim &p)
{
  Tuple s = p.size_in;
  const Tuple &a = p.args;
  switch (p.op) {
    case Prim::MERGE: {
      int64_t merged = s[a[0]] * s[a[1]];
      int64_t pos = a[0] < a[1] ? a[0] : a[0] - 1;
      s.erase(s.begin() + a[1]);
      s[pos] = merged;
      break;
    }
    case Prim::SPLIT: {
      int64_t whole = s[a[0]];
      s[a[0]] = a[1];
      s.insert(s.begin() + a[0] + 1, whole / a[1]);
      break;
    }
    case Prim::SWAP: std::swap(s[a[0]], s[a[1]]); break;
    case Prim::SLICE: s[a[0]] = a[2] - a[1] + 1; break;
    case Prim::REVERSE: break;
  }
  return s;
}

/* Output index -> input index of one primitive. */
Tuple back(const Prim &p, const Tuple &idx)
{
  const Tuple &s = p.size_in;
  const Tuple &a = p.args;
  Tuple out;
  switch (p.op) {
    case Prim::MERGE: {
      int64_t x = a[0], y = a[1], pos = x < y ? x : x - 1;
      int64_t i = idx[pos];
      Tuple rest;
      for (size_t d = 0; d < idx.size(); d++)
        if ((int64_t)d != pos) rest.push_back(idx[d]);
      size_t k = 0;
      for (size_t d = 0; d < s.size(); d++) {
        if ((int64_t)d == x) out.push_back(i / s[y]);
        else if ((int64_t)d == y) out.push_back(i % s[y]);
        else out.push_back(rest[k++]);
      }
      return out;
    }
    case Prim::SPLIT: {
      int64_t d = a[0];
      out.assign(idx.begin(), idx.begin() + d);
      out.push_back(idx[d] + idx[d + 1] * a[1]);
      out.insert(out.end(), idx.begin() + d + 2, idx.end());
      return out;
    }
    case Prim::SWAP: out = idx; std::swap(out[a[0]], out[a[1]]); return out;
    case Prim::SLICE: out = idx; out[a[0]] += a[1]; return out;
    case Prim::REVERSE: out = idx; out[a[0]] = s[a[0]] - 1 - out[a[0]]; return out;
  }
  return out;
}

/* Input index -> output index of one primitive; false when outside the output space. */
bool fwd(const Prim &p, Tuple &idx)
{
  const Tuple &s = p.size_in;
  const Tuple &a = p.args;
  switch (p.op) {
    case Prim::MERGE: {
      int64_t x = a[0], y = a[1], pos = x < y ? x : x - 1;
      int64_t merged = idx[x] * s[y] + idx[y];
      Tuple rest;
      for (size_t d = 0; d < idx.size(); d++)
        if ((int64_t)d != x && (int64_t)d != y) rest.push_back(idx[d]);
      rest.insert(rest.begin() + pos, merged);
      idx = rest;
      return true;
    }
    case Prim::SPLIT: {
      int64_t d = a[0], x = idx[d];
      idx[d] = x % a[1];
      idx.insert(idx.begin() + d + 1, x / a[1]);
      return true;
    }
    case Prim::SLICE:
      if (idx[a[0]] < a[1] || idx[a[0]] > a[2]) return false;
      idx[a[0]] -= a[1];
      return true;
    default:
      idx = back(p, idx);  // swap and reverse are their own inverses
      return true;
  }
}

void factorizations(int64_t n, size_t k, Tuple &prefix, std::vector<Tuple> &out)
{
  if (k == 1) {
    prefix.push_back(n);
    out.push_back(prefix);
    prefix.pop_back();
    return;
  }
  for (int64_t f = 1; f <= n; f++)
    if (n % f == 0) {
      prefix.push_back(f);
      factorizations(n / f, k - 1, prefix, out);
      prefix.pop_back();
    }
}

std::vector<Tuple> factorizations(int64_t n, size_t k)
{
  std::vector<Tuple> out;
  Tuple prefix;
  factorizations(n, k, prefix, out);
  return out;
}

Tuple prime_factors(int64_t n)
{
  Tuple out;
  for (int64_t p = 2; p * p <= n; p++)
    while (n % p == 0) out.push_back(p), n /= p;
  if (n > 1) out.push_back(n);
  std::sort(out.rbegin(), out.rend());
  return out;
}

}  // namespace

Tuple balance_factors(int64_t n, int64_t k)
{
  if (k != 2 && k != 3) throw std::invalid_argument("balance_split splits into 2 or 3 dimensions, not " + str(k));
  Tuple best;
  for (const Tuple &f : factorizations(n, k)) {
    if (!std::is_sorted(f.rbegin(), f.rend())) continue;  // non-increasing only
    if (best.empty()) { best = f; continue; }
    int64_t spread = f.front() - f.back(), best_spread = best.front() - best.back();
    int64_t sum = std::accumulate(f.begin(), f.end(), int64_t(0));
    int64_t best_sum = std::accumulate(best.begin(), best.end(), int64_t(0));
    if (spread < best_spread || (spread == best_spread && (sum < best_sum || (sum == best_sum && f > best))))
      best = f;
  }
  return best;
}

Tuple greedy_factors(int64_t n, const Tuple &L)
{
  Tuple O(L.size(), 1);
  for (int64_t p : prime_factors(n)) {
    size_t best = 0;
    for (size_t i = 1; i < L.size(); i++)
      if (L[i] * O[best] > L[best] * O[i]) best = i;
    O[best] *= p;
  }
  return O;
}

Tuple auto_factors(int64_t n, const Tuple &L)
{
  int64_t M = 1;
  for (int64_t l : L) M = std::lcm(M, l);
  std::vector<Tuple> cands = factorizations(n, L.size());
  std::vector<int64_t> cost;
  for (const Tuple &f : cands) {
    int64_t c = 0;
    for (size_t i = 0; i < f.size(); i++) c += f[i] * (M / L[i]);
    cost.push_back(c);
  }
  int64_t low = *std::min_element(cost.begin(), cost.end());
  Tuple greedy = greedy_factors(n, L), best;
  for (size_t i = 0; i < cands.size(); i++) {
    if (cost[i] != low) continue;
    if (cands[i] == greedy) return greedy;
    if (best.empty() || cands[i] > best) best = cands[i];
  }
  return best;
}

std::pair<int64_t, int64_t> Space::to_base(const Tuple &index) const
{
  Tuple idx = index;
  for (auto p = prims_.rbegin(); p != prims_.rend(); ++p) idx = back(*p, idx);
  return {idx[0], idx[1]};
}

bool Space::from_base(int64_t node, int64_t proc, Tuple &index) const
{
  index = {node, proc};
  for (const Prim &p : prims_)
    if (!fwd(p, index)) return false;
  return true;
}

void Space::apply(Prim::Op op, const Tuple &args)
{
  validate(op, args, size_);
  Prim p{op, args, size_};
  size_ = out_size(p);
  prims_.push_back(std::move(p));
}

std::shared_ptr<const Space> Space::transform(const std::string &name, const Tuple &args, const Tuple *list) const
{
  auto out = std::make_shared<Space>(*this);
  static const std::pair<const char *, std::pair<Prim::Op, size_t>> simple[] = {
      {"merge", {Prim::MERGE, 2}}, {"split", {Prim::SPLIT, 2}}, {"swap", {Prim::SWAP, 2}},
      {"slice", {Prim::SLICE, 3}}, {"reverse", {Prim::REVERSE, 1}}};
  for (const auto &s : simple)
    if (name == s.first) {
      if (args.size() != s.second.second || list)
        throw std::invalid_argument(name + " takes " + str(s.second.second) + " integer arguments");
      out->apply(s.second.first, args);
      return out;
    }
  if (args.empty()) throw std::invalid_argument(name + " takes a dimension as its first argument");
  int64_t d = args[0];
  check_dim(d, size_.size());
  int64_t n = size_[d];
  Tuple factors;
  if (name == "balance_split") {
    if (args.size() != 2 || list) throw std::invalid_argument("balance_split takes a dimension and a count");
    factors = balance_factors(n, args[1]);
  } else if (name == "auto_split" || name == "greedy_split") {
    if (!list || list->empty() || std::any_of(list->begin(), list->end(), [](int64_t v) { return v <= 0; }))
      throw std::invalid_argument(name + " needs a tuple of positive extents");
    factors = name == "auto_split" ? auto_factors(n, *list) : greedy_factors(n, *list);
  } else {
    throw std::invalid_argument("unknown transformation " + name);
  }
  for (size_t i = 0; i + 1 < factors.size(); i++) out->apply(Prim::SPLIT, {d + (int64_t)i, factors[i]});
  return out;
}

}  // namespace hpcmap
