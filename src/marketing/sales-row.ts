/** One row of stg_qtickets_sales_raw (sql/migrations/0006_sales.sql), as the QTickets API and Gmail loaders write it. */
export interface SalesRawRow extends Record<string, unknown> {
  source: string;
  order_id: string;
  line_id: string;
  event_id: string;
  show_id: string;
  event_name: string;
  city: string;
  event_date: string | null;
  sold_at: string;
  tickets: number;
  /** A JSON number: ClickHouse 18.16 reads Decimal from JSONEachRow only as a number. */
  revenue: number;
  currency: string;
  status: 'paid' | 'refunded' | 'cancelled';
  src_msg_id: string;
}
