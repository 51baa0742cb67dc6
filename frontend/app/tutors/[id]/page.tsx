import { TutorPage } from "@/components/tutor-page";

export default async function Page({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <TutorPage tutorId={decodeURIComponent(id)} />;
}
