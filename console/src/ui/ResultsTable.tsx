import { Table } from "@mantine/core";
import type { ReactNode } from "react";

export interface ResultsTableProps {
  /** The table's accessible name (what a screen reader and the journey test find it by). */
  readonly label: string;
  /** The column headings, in order. */
  readonly head: readonly string[];
  /** Below this width the table scrolls sideways instead of squeezing (390 px phones). */
  readonly minWidth: number;
  readonly striped?: boolean;
  readonly highlightOnHover?: boolean;
  /** The rows (`Table.Tr` elements). */
  readonly children: ReactNode;
}

/** A results table of the console: scrolls sideways on narrow screens, one heading row, the rows given. */
export function ResultsTable({ label, head, minWidth, striped = false, highlightOnHover = false, children }: ResultsTableProps) {
  return (
    <Table.ScrollContainer minWidth={minWidth}>
      <Table striped={striped} highlightOnHover={highlightOnHover} aria-label={label}>
        <Table.Thead>
          <Table.Tr>
            {head.map((h) => (
              <Table.Th key={h}>{h}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>{children}</Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
