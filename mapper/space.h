/* Machine spaces and their transformations (IR.md section 6). */
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hpcmap {

using Tuple = std::vector<int64_t>;

/* One primitive transformation with the extents of its input space. */
struct Prim {
  enum Op { MERGE, SPLIT, SWAP, SLICE, REVERSE } op;
  Tuple args;
  Tuple size_in;
};

class Space {
public:
  Space(std::string kind, int64_t nodes, int64_t per_node) : kind_(std::move(kind)), size_{nodes, per_node} {}

  const std::string &kind() const { return kind_; }
  const Tuple &size() const { return size_; }

  /* Index of this space -> (node, processor index within node). */
  std::pair<int64_t, int64_t> to_base(const Tuple &index) const;
  /* (node, processor) -> index of this space; false when a slice leaves the processor out. */
  bool from_base(int64_t node, int64_t proc, Tuple &index) const;
  /* A new space: `name` applied with `args` (ints; the tuple L of auto/greedy_split in `list`).
   * Throws std::invalid_argument with a one-sentence message. */
  std::shared_ptr<const Space> transform(const std::string &name, const Tuple &args, const Tuple *list) const;

private:
  std::string kind_;
  Tuple size_;  // extents after all prims
  std::vector<Prim> prims_;

  void apply(Prim::Op op, const Tuple &args);
};

/* Factorizations used by the multi-way splits (exposed for tests). */
Tuple balance_factors(int64_t n, int64_t k);
Tuple greedy_factors(int64_t n, const Tuple &L);
Tuple auto_factors(int64_t n, const Tuple &L);

}  // namespace hpcmap
