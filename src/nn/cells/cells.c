/*
 * cells.c - the registry of recurrent cells. A new cell type is one file in
 * src/nn/cells/ plus one line in the table below.
 */
#include "nn/cells/cell.h"

#include <string.h>

// One line per cell: its definition lives in its own file.
extern const cell_def cell_rnn, cell_lstm, cell_gru;
static const cell_def *const cells[] = {&cell_rnn, &cell_lstm, &cell_gru};

const cell_def *cell_get(recur_cell id)
{
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++)
        if (cells[i]->id == id) return cells[i];
    return NULL;
}

const cell_def *cell_find(const char *name)
{
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++)
        if (name && strcmp(cells[i]->name, name) == 0) return cells[i];
    return NULL;
}

const char *recur_cell_name(recur_cell cell)
{
    const cell_def *c = cell_get(cell);
    return c ? c->name : "?";
}

int recur_cell_parse(const char *name)
{
    const cell_def *c = cell_find(name);
    return c ? (int)c->id : -1;
}
