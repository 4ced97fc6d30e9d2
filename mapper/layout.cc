/* Layout constraints from Layout statements. */
#include "layout.h"

#include <algorithm>

namespace hpcmap {

using namespace Legion;

namespace {

EqualityKind equality(const std::string &op)
{
  if (op == "<") return LEGION_LT_EK;
  if (op == "<=") return LEGION_LE_EK;
  if (op == ">") return LEGION_GT_EK;
  if (op == ">=") return LEGION_GE_EK;
  if (op == "!=") return LEGION_NE_EK;
  return LEGION_EQ_EK;
}

}  // namespace

void apply_layout(const LayoutRule &rule, int dims, LayoutConstraintSet &cs)
{
  const std::vector<DimensionKind> &old = cs.ordering_constraint.ordering;
  bool fields_first = !old.empty() && old.front() == LEGION_DIM_F;  // AOS today?
  bool c_order = false;  // DefaultMapper orders X fastest (F order)
  {
    std::vector<DimensionKind> spatial;
    for (DimensionKind d : old)
      if (d != LEGION_DIM_F) spatial.push_back(d);
    c_order = spatial.size() > 1 && spatial.front() > spatial.back();
  }
  if (!rule.field_order.empty()) fields_first = rule.field_order == "AOS";
  if (!rule.dim_order.empty()) c_order = rule.dim_order == "C";
  if (!rule.field_order.empty() || !rule.dim_order.empty() || old.empty()) {
    std::vector<DimensionKind> order;
    for (int d = 0; d < dims; d++) order.push_back(DimensionKind(LEGION_DIM_X + d));
    if (c_order) std::reverse(order.begin(), order.end());
    if (fields_first) order.insert(order.begin(), LEGION_DIM_F);
    else order.push_back(LEGION_DIM_F);
    cs.ordering_constraint = OrderingConstraint(order, false);
  }
  if (!rule.align.empty()) {
    cs.alignment_constraints.clear();
    for (FieldID fid : cs.field_constraint.field_set)
      for (const Alignment &a : rule.align)
        cs.alignment_constraints.push_back(AlignmentConstraint(fid, equality(a.op), (size_t)a.bytes));
  }
  SpecializedConstraint &sc = cs.specialized_constraint;
  if (rule.compact || rule.exact) {
    SpecializedKind kind = sc.kind;
    if (rule.compact) kind = sc.is_reduction() ? LEGION_COMPACT_REDUCTION_SPECIALIZE : LEGION_COMPACT_SPECIALIZE;
    cs.specialized_constraint = SpecializedConstraint(kind, sc.redop, sc.no_access, sc.exact || rule.exact);
  }
}

bool restates_default(const LayoutRule &rule, int dims, const LayoutConstraintSet &defaults)
{
  LayoutConstraintSet stated = defaults;
  apply_layout(rule, dims, stated);
  LayoutConstraintSet legion_default = defaults;
  if (legion_default.ordering_constraint.ordering.empty()) {
    std::vector<DimensionKind> order;
    for (int d = 0; d < dims; d++) order.push_back(DimensionKind(LEGION_DIM_X + d));
    order.push_back(LEGION_DIM_F);
    legion_default.ordering_constraint = OrderingConstraint(order, false);
  }
  return stated == defaults || stated == legion_default;
}

std::string describe_layout(const LayoutConstraintSet &cs)
{
  const std::vector<DimensionKind> &order = cs.ordering_constraint.ordering;
  if (order.empty()) return "any";
  std::vector<DimensionKind> spatial;
  for (DimensionKind d : order)
    if (d != LEGION_DIM_F) spatial.push_back(d);
  std::string out = order.front() == LEGION_DIM_F && order.size() > 1 ? "AOS" : "SOA";
  out += spatial.size() > 1 && spatial.front() > spatial.back() ? ",C" : ",F";
  return out;
}

}  // namespace hpcmap
