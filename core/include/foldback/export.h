// FOLDBACK_EXPORT marks the symbols of foldback's public C++ API.
// Shared builds compile with -fvisibility=hidden; only marked symbols leave.
#ifndef FOLDBACK_EXPORT_H_
#define FOLDBACK_EXPORT_H_

#if defined(FOLDBACK_SHARED) && defined(FOLDBACK_BUILDING)
#define FOLDBACK_EXPORT __attribute__((visibility("default")))
#else
#define FOLDBACK_EXPORT
#endif

#endif  // FOLDBACK_EXPORT_H_
