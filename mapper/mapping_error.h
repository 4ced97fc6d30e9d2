/* A mapping-time error (IR.md section 7): the source line and one sentence. */
#pragma once

#include <stdexcept>
#include <string>

namespace hpcmap {

struct MappingError : std::runtime_error {
  MappingError(int line, const std::string &message) : std::runtime_error(message), line(line) {}
  int line;
};

/* Prints `hpcmap-mapper: error: FILE:LINE: message` on stderr and ends the process at once. */
[[noreturn]] void die(const std::string &file, int line, const std::string &message);

}  // namespace hpcmap
