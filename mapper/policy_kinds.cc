/* The processor kinds a mapping function can touch: a statement whose function builds a machine
 * space of a kind this machine lacks does not apply here (portable mappers). */
#include "policy.h"

namespace hpcmap {

namespace {

struct KindScan {
  const Ir &ir;
  std::set<std::string> kinds;
  std::set<std::string> functions_seen;
  std::set<int> globals_seen;

  void node(const Node &n)
  {
    if (n.op == Node::MACHINE) kinds.insert(n.name);
    if (n.op == Node::GLOBAL && globals_seen.insert(n.slot).second && n.slot >= 0 &&
        n.slot < (int)ir.globals.size())
      node(ir.globals[n.slot].expr);
    if (n.op == Node::CALL) function(n.name);
    for (const Node &k : n.kids) node(k);
  }

  void function(const std::string &name)
  {
    if (!functions_seen.insert(name).second) return;
    const Function *f = ir.function(name);
    if (!f) return;
    for (const Stmt &s : f->body) {
      node(s.expr);
      for (const Node &a : s.args) node(a);
    }
  }
};

}  // namespace

std::set<std::string> Policy::machine_kinds(const std::string &function) const
{
  KindScan scan{ir_, {}, {}, {}};
  scan.function(function);
  return scan.kinds;
}

}  // namespace hpcmap
