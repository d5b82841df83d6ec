/* The machine's memory, for plans that must fit it. */
#ifndef LOOM_CORE_SYSMEM_H
#define LOOM_CORE_SYSMEM_H

#include <stdint.h>

/* Physical RAM in bytes (0 when unknown). */
uint64_t sysmem_physical_bytes(void);
/* Memory the kernel can hand out now without swapping (/proc/meminfo MemAvailable; free pages when that
 * is missing); 0 when unknown. */
uint64_t sysmem_available_bytes(void);

#endif
