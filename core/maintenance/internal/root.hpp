// Opening a guest root for the commands that read one (status, verify).
#pragma once

#include "store/store.hpp"
#include "sys/fd.hpp"

#include <string>

namespace pkgunify {

// `root` opened as a directory. Throws ConfigError when it is none or not on
// the store's filesystem.
sys::Fd open_root(const Store& store, const std::string& root);

}  // namespace pkgunify
