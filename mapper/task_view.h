/* Legion points and domains as the language's tuples. */
#pragma once

#include "legion.h"
#include "space.h"

namespace hpcmap {

/* The coordinates of a point; a point of no dimensions (a single launch) is (0). */
Tuple point_tuple(const Legion::DomainPoint &p);
/* The extents of a domain, hi - lo + 1 per dimension; an empty-dimension domain is (1). */
Tuple extents_tuple(const Legion::Domain &d);

}  // namespace hpcmap
