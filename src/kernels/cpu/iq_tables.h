/* The lattice grids of llama.cpp's IQ1 / IQ2 / IQ3 block types (format constants; generated into
 * iq_tables.c by scripts/gen_iq_tables.py). Entry i of a grid is 8 (IQ2, IQ1) or 4 (IQ3) values, each
 * stored as an index into the grid's value map, 2 or 3 bits per value, lowest bits first. */
#ifndef LOOM_KERNELS_CPU_IQ_TABLES_H
#define LOOM_KERNELS_CPU_IQ_TABLES_H

#include <stdint.h>

extern const uint16_t iq2xxs_grid[256]; /* 8 values of {8, 25, 43} */
extern const uint16_t iq2xs_grid[512];  /* 8 values of {8, 25, 43} */
extern const uint16_t iq2s_grid[1024];  /* 8 values of {8, 25, 43} */
extern const uint16_t iq3xxs_grid[256]; /* 4 values of {4, 12, 20, 28, 36, 44, 52, 62} */
extern const uint16_t iq3s_grid[512];   /* 4 values of {1, 3, 5, 7, 9, 11, 13, 15} */
extern const uint16_t iq1s_grid[2048];  /* 8 values of {-1, 0, 1} */

#endif
