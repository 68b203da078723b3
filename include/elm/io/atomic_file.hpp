// SPDX-License-Identifier: MIT
// Atomic file writes: the content goes to a temporary file beside the target, which is renamed into place
// only once fully written and flushed, so a failure part-way never leaves a truncated file behind.
#pragma once

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#endif

#include "elm/core/error.hpp"

namespace elm::io {
namespace detail {

inline std::string temporary_path_for(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  unsigned long pid = 0;
#if defined(__unix__) || defined(__APPLE__)
  pid = static_cast<unsigned long>(::getpid());
#endif
  return elm::detail::concat(path, ".tmp.", pid, ".", counter.fetch_add(1));
}

inline void sync_file(const std::string& path) {
#if defined(__unix__) || defined(__APPLE__)
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    (void)::fsync(fd);
    (void)::close(fd);
  }
#else
  (void)path;
#endif
}

}  // namespace detail

/// Calls write(std::ostream&) to produce the file's content in a temporary file next to `path`, flushes it
/// to disk and renames it over `path`. If write throws or any step fails, the temporary file is removed,
/// `path` keeps its previous content, and the exception (IoError for I/O failures) propagates.
template <typename Writer>
void write_atomically(const std::string& path, Writer&& write) {
  const std::string tmp = detail::temporary_path_for(path);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      ELM_EXPECT(out.good(), IoError, "elm::io::write_atomically: cannot create ", tmp, " to write ", path);
      write(static_cast<std::ostream&>(out));
      out.flush();
      ELM_EXPECT(out.good(), IoError, "elm::io::write_atomically: writing ", tmp, " failed (disk full?)");
    }
    detail::sync_file(tmp);
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    ELM_EXPECT(!ec, IoError, "elm::io::write_atomically: cannot rename ", tmp, " to ", path, ": ", ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

/// Writes `text` to `path` atomically (see write_atomically).
inline void write_text_atomically(const std::string& path, const std::string& text) {
  write_atomically(path, [&](std::ostream& out) { out.write(text.data(), static_cast<std::streamsize>(text.size())); });
}

}  // namespace elm::io
