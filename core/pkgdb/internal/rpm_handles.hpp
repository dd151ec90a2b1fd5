// SPDX-License-Identifier: GPL-2.0-or-later
// RAII owners of librpm handles, and a scope that captures what librpm logs.
// Private to core/pkgdb: nothing outside this directory sees an rpm type.
#pragma once

#include <rpm/header.h>
#include <rpm/rpmdb.h>
#include <rpm/rpmfiles.h>
#include <rpm/rpmio.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmts.h>

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace pkgunify::rpm {

// Frees a librpm handle with `Free` (rpmtsFree, headerFree, ...).
template<auto Free>
struct FreeWith
{
  template<typename T>
  void
  operator()(T* handle) const
  {
    Free(handle);
  }
};

// An owner of the librpm handle type `Handle` (a pointer), freed with `Free`.
template<typename Handle, auto Free>
using Owner = std::unique_ptr<std::remove_pointer_t<Handle>, FreeWith<Free>>;

using Ts = Owner<rpmts, rpmtsFree>;
using Iterator = Owner<rpmdbMatchIterator, rpmdbFreeIterator>;
using Files = Owner<rpmfiles, rpmfilesFree>;
using Fi = Owner<rpmfi, rpmfiFree>;
using HeaderPtr = Owner<Header, headerFree>;
using Fd = Owner<FD_t, Fclose>;

// Collects the error messages librpm logs while it lives, instead of letting
// librpm print them, and restores the previous callback afterwards.
class LogCapture
{
public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  [[nodiscard]] bool
  has_errors() const
  {
    return !m_errors.empty();
  }
  // "msg1; msg2" without trailing newlines.
  [[nodiscard]] std::string errors() const;

private:
  static int callback(rpmlogRec rec, rpmlogCallbackData data);

  std::vector<std::string> m_errors;
  rpmlogCallback m_previous = nullptr;
  rpmlogCallbackData m_previous_data = nullptr;
};

// Reads rpm's configuration once per process.
void init();

}  // namespace pkgunify::rpm
