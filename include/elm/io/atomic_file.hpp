// SPDX-License-Identifier: MIT
// Atomic file writes: the content goes to a temporary file beside the target, which is renamed into place
// only once fully written and flushed, so a failure part-way never leaves a truncated file behind; several
// files that belong together are renamed only once all are written, and put back if a rename fails.
#pragma once

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

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

/// One file of write_files_atomically: its path and what writes its content.
struct FileContent {
  std::string path;
  std::function<void(std::ostream&)> write;
};

/// Writes several files that belong together (a model directory's config.json and weights) so that a failure
/// loses nothing: each content goes to a temporary file beside its path and is flushed to disk; only once all
/// are complete are they renamed into place, in the order given. If a rename fails, the files renamed before it
/// are put back (from hard links, or copies, of their previous versions), so every path keeps its previous
/// content (or stays absent). Other files beside them are never touched. On failure the temporary files are
/// removed and the exception propagates (IoError for I/O failures, or whatever a writer throws). Only a crash
/// of the process between two renames can leave some files new and others old.
inline void write_files_atomically(const std::vector<FileContent>& files) {
  const auto remove_quietly = [](const std::string& path) {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  };
  std::vector<std::string> temporaries, backups(files.size());
  try {
    // 1) every content complete on disk, beside its target
    for (const FileContent& file : files) {
      temporaries.push_back(detail::temporary_path_for(file.path));
      const std::string& tmp = temporaries.back();
      {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        ELM_EXPECT(out.good(), IoError, "elm::io::write_atomically: cannot create ", tmp, " to write ", file.path);
        file.write(static_cast<std::ostream&>(out));
        out.flush();
        ELM_EXPECT(out.good(), IoError, "elm::io::write_atomically: writing ", tmp, " failed (disk full?)");
      }
      detail::sync_file(tmp);
    }
    // 2) the previous versions of the files renamed before the last, to put back if a later rename fails
    for (std::size_t i = 0; i + 1 < files.size(); ++i) {
      std::error_code ec;
      if (!std::filesystem::exists(files[i].path, ec)) continue;
      backups[i] = detail::temporary_path_for(files[i].path) + ".old";
      std::filesystem::create_hard_link(files[i].path, backups[i], ec);
      if (ec) {
        ec.clear();
        std::filesystem::copy_file(files[i].path, backups[i], ec);
      }
      if (ec) backups[i].clear();
      ELM_EXPECT(!ec, IoError, "elm::io::write_atomically: cannot keep the previous ", files[i].path, ": ",
                 ec.message());
    }
    // 3) rename into place; on failure, undo the renames done
    for (std::size_t i = 0; i < files.size(); ++i) {
      std::error_code ec;
      std::filesystem::rename(temporaries[i], files[i].path, ec);
      if (!ec) continue;
      for (std::size_t j = 0; j < i; ++j) {
        std::error_code ignored;
        if (backups[j].empty()) {
          std::filesystem::remove(files[j].path, ignored);  // it did not exist before
        } else {
          std::filesystem::rename(backups[j], files[j].path, ignored);
          if (!ignored) backups[j].clear();  // put back: nothing left to remove
        }
      }
      throw IoError(elm::detail::concat("elm::io::write_atomically: cannot rename ", temporaries[i], " to ",
                                        files[i].path, ": ", ec.message()));
    }
  } catch (...) {
    for (const std::string& tmp : temporaries) remove_quietly(tmp);
    for (const std::string& backup : backups)
      if (!backup.empty()) remove_quietly(backup);
    throw;
  }
  for (const std::string& backup : backups)
    if (!backup.empty()) remove_quietly(backup);
}

/// Calls write(std::ostream&) to produce the file's content in a temporary file next to `path`, flushes it
/// to disk and renames it over `path`. If write throws or any step fails, the temporary file is removed,
/// `path` keeps its previous content, and the exception (IoError for I/O failures) propagates.
template <typename Writer>
void write_atomically(const std::string& path, Writer&& write) {
  write_files_atomically({FileContent{path, [&write](std::ostream& out) { write(out); }}});
}

/// Writes `text` to `path` atomically (see write_atomically).
inline void write_text_atomically(const std::string& path, const std::string& text) {
  write_atomically(path, [&](std::ostream& out) { out.write(text.data(), static_cast<std::streamsize>(text.size())); });
}

}  // namespace elm::io
