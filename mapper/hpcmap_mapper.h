/* libhpcmap_mapper: a Legion mapper that obeys an hpcmap policy (the compiled mapper language).
 *
 * A benchmark calls hpcmap::register_mapper() once, before Legion::Runtime::start. With
 * `-hpcmap:policy FILE` on the command line every local processor gets the policy mapper;
 * without it Legion's DefaultMapper is left in place, unchanged. */
#pragma once

namespace hpcmap {

void register_mapper();

}  // namespace hpcmap
