import type { Metadata } from "next";
import { BookingDetailPage } from "@/components/booking-detail";

export const metadata: Metadata = { title: "Booking" };

export default async function Page({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <BookingDetailPage bookingId={decodeURIComponent(id)} />;
}
