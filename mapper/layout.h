/* A Layout statement -> Legion layout constraints. */
#pragma once

#include <string>

#include "ir.h"
#include "legion.h"

namespace hpcmap {

/* Rewrites `cs` (DefaultMapper's constraints for the instance) with the rule's constraints:
 * field order (SOA: fields slowest, AOS: fields fastest), dimension order (C: last dimension
 * fastest, F: first fastest), alignment of every field, Compact and Exact specialization. */
void apply_layout(const LayoutRule &rule, int dims, Legion::LayoutConstraintSet &cs);

/* Whether the rule asks for nothing beyond DefaultMapper's constraints `defaults` (then the instance
 * is made as DefaultMapper makes it, reuse included). Where DefaultMapper sets no dimension order
 * (reduction instances), Legion's own order, SOA with the first dimension fastest, is no change. */
bool restates_default(const LayoutRule &rule, int dims, const Legion::LayoutConstraintSet &defaults);

/* "SOA,F" style summary of an ordering constraint for the decision log. */
std::string describe_layout(const Legion::LayoutConstraintSet &cs);

}  // namespace hpcmap
