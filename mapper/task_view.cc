/* Point and domain conversions. */
#include "task_view.h"

namespace hpcmap {

Tuple point_tuple(const Legion::DomainPoint &p)
{
  if (p.get_dim() <= 0) return {0};
  Tuple t;
  for (int d = 0; d < p.get_dim(); d++) t.push_back(p[d]);
  return t;
}

Tuple extents_tuple(const Legion::Domain &d)
{
  if (d.get_dim() <= 0) return {1};
  Tuple t;
  Legion::DomainPoint lo = d.lo(), hi = d.hi();
  for (int k = 0; k < d.get_dim(); k++) t.push_back(hi[k] - lo[k] + 1);
  return t;
}

}  // namespace hpcmap
